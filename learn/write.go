package learn

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/airlockhq/airlock/policy"
)

// Header is the first line of every learned file; explain looks for it.
const Header = "# Learned by airlock from what a tool did (airlock run --learn, docs/learn.md):"

// headerText is Header without its "# ".
var headerText = strings.TrimPrefix(Header, "# ")

// Merge writes n into the policy file src (empty for a new file) named
// filename, whose relative hosts resolve against baseDir (policy.BaseDir
// of filename), and returns the new contents and what it added, one line
// each, for the person. It keeps every line of src, the person's edits and
// comments, in order, and adds only what src does not allow yet: a mount
// block, or access = "write" on one that is read-only; list elements;
// limits raised. Where src refuses something on purpose (it hides a folder
// the tool used, or denies a host it contacted) src wins and a comment
// says so. When src allows everything already, src comes back unchanged.
// The result is always a valid policy: Merge fails rather than return one
// that is not.
func Merge(src []byte, filename, baseDir string, n *Needs) ([]byte, []string, error) {
	fresh := len(bytes.TrimSpace(src)) == 0
	var old *policy.Policy
	f := hclwrite.NewEmptyFile()
	if !fresh {
		p, diags := policy.Parse(src, filename, policy.LayerProject, baseDir)
		if diags.HasErrors() {
			return nil, nil, fmt.Errorf("%s is not a valid policy (airlock policy check %s says why); fix it, or learn into another file", filename, filename)
		}
		old = p
		var wdiags hcl.Diagnostics
		if f, wdiags = hclwrite.ParseConfig(src, filename, hcl.InitialPos); wdiags.HasErrors() {
			return nil, nil, fmt.Errorf("reading %s: %s", filename, wdiags.Error())
		}
	}
	base := baseDir
	if r, err := filepath.EvalSymlinks(baseDir); err == nil {
		base = r
	}
	w := &writer{body: f.Body(), old: old, base: base, src: string(src)}
	if fresh {
		w.comment(headerText)
		w.comment("the narrowest policy that lets that run happen again with no question. Review it")
		w.comment("before you rely on it, and edit it freely: learning again into this file adds what a")
		w.comment("new run needs and keeps your edits and comments.")
		w.comment(runLine("Tool", n))
	}
	for _, m := range n.Mounts {
		w.mount(m)
	}
	w.env(n.Env)
	w.network(n.Net)
	for _, c := range n.Credentials {
		w.credential(c)
	}
	w.limits(n.Limits)
	if !fresh && len(w.added) == 0 {
		return src, nil, nil
	}
	var tail []string
	if !fresh {
		tail = append(tail, runLine("Learned again from", n))
	}
	if n.Failed != "" {
		tail = append(tail, "The run "+n.Failed+": what is learned covers only what the tool did before it stopped.")
	}
	for _, name := range n.Env.Withheld {
		tail = append(tail, "not learned: the value of "+name+", set for the run; its name says it may be a secret: set it here yourself, or pass it (env { pass = [\""+name+"\"] })")
	}
	tail = append(tail, w.notes...)
	tail = append(tail, n.Notes...)
	var newTail []string
	for _, t := range tail {
		if !strings.Contains(w.src, commentText(t)) {
			newTail = append(newTail, t)
		}
	}
	if len(newTail) > 0 {
		w.body.AppendNewline()
		for _, t := range newTail {
			w.comment(t)
		}
	}
	out := hclwrite.Format(f.Bytes())
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	if _, diags := policy.Parse(out, filename, policy.LayerProject, baseDir); diags.HasErrors() {
		return nil, nil, fmt.Errorf("learn: the policy written for %s would not be valid (a bug): %s", filename, diags.Error())
	}
	return out, w.added, nil
}

func runLine(what string, n *Needs) string {
	digest := n.Digest
	if i := strings.IndexByte(digest, ':'); i >= 0 && len(digest) > i+13 {
		digest = digest[:i+13]
	}
	line := what + ": " + n.Tool
	if digest != "" {
		line += " (" + digest + ")"
	}
	return line + ", run as: " + strings.Join(append([]string{n.Tool}, n.Args...), " ")
}

// writer adds to one file.
type writer struct {
	body  *hclwrite.Body
	old   *policy.Policy // what the file said before, nil for a new one
	base  string         // where relative hosts start, really
	src   string
	added []string
	notes []string
}

func (w *writer) comment(text string) {
	w.body.AppendUnstructuredTokens(hclwrite.Tokens{commentTok(text)})
}

// mount adds what m needs: nothing when the file already serves m's
// folder with that access (and does not hide or protect it), access =
// "write" on a block at the same guest path and host, else a new block.
func (w *writer) mount(m MountNeed) {
	m.Protect, m.Hide = slices.Clone(m.Protect), slices.Clone(m.Hide)
	if w.old != nil {
		for _, om := range w.old.Mounts {
			if om.Guest != m.Guest {
				continue
			}
			if realOf(om.Host) != m.Host {
				w.notes = append(w.notes, fmt.Sprintf("not added: the run used %s from %s, but this file mounts %s there; change it yourself if you mean it", m.Guest, m.Host, om.Host))
				return
			}
			blk := findBlock(w.body, "mount", m.Guest)
			if blk == nil {
				return
			}
			var what []string
			if m.Access == policy.Write && om.Access != policy.Write {
				blk.Body().SetAttributeValue("access", cty.StringVal("write"))
				what = append(what, `access = "write"`)
			}
			if add := missing(m.Protect, om.Protect); len(add) > 0 && m.Access == policy.Write {
				appendList(blk.Body(), "protect", strItems(add))
				what = append(what, "protect "+strings.Join(add, ", "))
			}
			if add := missing(m.Hide, om.Hide); len(add) > 0 {
				appendList(blk.Body(), "hide", strItems(add))
				what = append(what, "hide "+strings.Join(add, ", "))
			}
			if len(what) > 0 {
				blk.Body().AppendUnstructuredTokens(hclwrite.Tokens{commentTok("learned again: " + strings.Join(what, "; ") + ", for " + m.Why)})
				w.added = append(w.added, fmt.Sprintf("mount %s: %s", m.Guest, strings.Join(what, "; ")))
			}
			return
		}
		if i := w.old.Innermost(m.Guest); i >= 0 {
			om := w.old.Mounts[i]
			rel, _ := policy.GuestRel(om.Guest, m.Guest)
			if hostJoin(realOf(om.Host), rel) == m.Host {
				if p, ok := policy.MatchAny(om.Hide, rel); ok {
					w.notes = append(w.notes, fmt.Sprintf("not added: %s, which this file hides (hide %q in %s)", m.Guest, p.Text, om.Guest))
					return
				}
				if p, ok := policy.MatchAny(om.Protect, rel); ok && m.Access == policy.Write && om.Access == policy.Write {
					w.notes = append(w.notes, fmt.Sprintf("not added: writing in %s, which this file protects (protect %q in %s)", m.Guest, p.Text, om.Guest))
					return
				}
				if om.Access == policy.Write || m.Access == policy.Read {
					return // served already
				}
				// The new block nests in om and is served by its own
				// rules alone: what om protects and hides there must
				// come along.
				for _, p := range om.Protect {
					if all, below, err := p.Within(rel); err == nil && !all && p.Origin.Layer == policy.LayerProject {
						for _, q := range below {
							if !slices.Contains(m.Protect, q.Text) {
								m.Protect = append(m.Protect, q.Text)
							}
						}
					}
				}
				for _, p := range om.Hide {
					if all, below, err := p.Within(rel); err == nil && !all && p.Origin.Layer == policy.LayerProject {
						for _, q := range below {
							if !slices.Contains(m.Hide, q.Text) {
								m.Hide = append(m.Hide, q.Text)
							}
						}
					}
				}
			}
		}
	}
	w.body.AppendNewline()
	w.comment(m.Why)
	blk := w.body.AppendNewBlock("mount", []string{m.Guest})
	b := blk.Body()
	b.SetAttributeValue("host", cty.StringVal(w.hostText(m.Host)))
	b.SetAttributeValue("access", cty.StringVal(m.Access.String()))
	if len(m.Protect) > 0 {
		b.SetAttributeValue("protect", strList(m.Protect))
	}
	if len(m.Hide) > 0 {
		b.SetAttributeValue("hide", strList(m.Hide))
	}
	w.added = append(w.added, fmt.Sprintf("mount %s (%s): %s", m.Guest, m.Access, m.Why))
}

// hostText is a host directory as the file says it: relative to the base
// folder when it lies inside it ("." or "./src"), else absolute.
func (w *writer) hostText(host string) string {
	rel, err := filepath.Rel(w.base, host)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return host
	}
	if rel == "." {
		return "."
	}
	return "./" + filepath.ToSlash(rel)
}

func (w *writer) env(e EnvNeed) {
	var pass []string
	for _, name := range e.Pass {
		if w.old == nil || (!slices.Contains(w.old.Env.Pass, name) && !hasKey(w.old.Env.Set, name)) {
			pass = append(pass, name)
		}
	}
	var set []string
	for _, name := range sortedKeys(e.Set) {
		if w.old == nil || (!slices.Contains(w.old.Env.Pass, name) && !hasKey(w.old.Env.Set, name)) {
			set = append(set, name)
		}
	}
	if len(pass) == 0 && len(set) == 0 {
		return
	}
	blk := findBlock(w.body, "env")
	if blk == nil {
		w.body.AppendNewline()
		w.comment("WASI hands a tool every variable at once (environ_get), and what it reads of them stays")
		w.comment("inside it: no host can see which it used. These are what its policy gave it; remove")
		w.comment("those it does not need.")
		blk = w.body.AppendNewBlock("env", nil)
	}
	b := blk.Body()
	if len(pass) > 0 {
		var items []item
		for _, name := range pass {
			items = append(items, item{v: cty.StringVal(name), why: e.Why[name]})
		}
		appendList(b, "pass", items)
		w.added = append(w.added, "env pass "+strings.Join(pass, ", "))
	}
	for _, name := range set {
		appendObject(b, "set", name, e.Set[name], e.Why[name])
		w.added = append(w.added, "env set "+name)
	}
}

func (w *writer) network(ns []NetNeed) {
	var items []item
	for _, n := range ns {
		if w.old != nil {
			dec := w.old.Network.Check(n.Dest)
			if dec.Verdict == policy.Allow {
				continue
			}
			if strings.HasPrefix(dec.Rule, "deny ") {
				w.notes = append(w.notes, fmt.Sprintf("not added: %s, which this file denies (%s)", n.Rule, dec.Rule))
				continue
			}
		}
		items = append(items, item{v: cty.StringVal(n.Rule), why: n.Why})
		w.added = append(w.added, "network allow "+n.Rule+": "+n.Why)
	}
	if len(items) == 0 {
		return
	}
	blk := findBlock(w.body, "network")
	if blk == nil {
		w.body.AppendNewline()
		blk = w.body.AppendNewBlock("network", nil)
	}
	appendList(blk.Body(), "allow", items)
}

func (w *writer) credential(c CredentialNeed) {
	if w.old != nil {
		for _, oc := range w.old.Credentials {
			if oc.Name != c.Name {
				continue
			}
			var add []string
			for _, h := range c.Hosts {
				if !oc.AppliesTo("https", h) {
					add = append(add, h)
				}
			}
			if blk := findBlock(w.body, "credential", c.Name); blk != nil && len(add) > 0 {
				appendList(blk.Body(), "hosts", strItems(add))
				w.added = append(w.added, fmt.Sprintf("credential %s: hosts %s", c.Name, strings.Join(add, ", ")))
			}
			return
		}
	}
	w.body.AppendNewline()
	w.comment(c.Why)
	b := w.body.AppendNewBlock("credential", []string{c.Name}).Body()
	if c.Env != "" {
		b.SetAttributeValue("env", cty.StringVal(c.Env))
	} else {
		b.SetAttributeValue("file", cty.StringVal(c.File))
	}
	b.SetAttributeValue("hosts", strList(c.Hosts))
	b.SetAttributeValue("header", cty.StringVal(c.Header+": "+c.Template))
	if c.AllowHTTP {
		b.SetAttributeValue("allow_http", cty.True)
	}
	w.added = append(w.added, fmt.Sprintf("credential %s for %s", c.Name, strings.Join(c.Hosts, ", ")))
}

func (w *writer) limits(l LimitsNeed) {
	type lim struct {
		name string
		val  string
		more bool
	}
	var ls []lim
	if w.old == nil {
		ls = []lim{{"memory", sizeText(l.Memory), true}, {"timeout", policy.FormatDuration(l.Timeout), true}, {"output", sizeText(uint64(l.Output)), true}}
		if l.OpenFiles > 0 {
			ls = append(ls, lim{"open_files", fmt.Sprint(l.OpenFiles), true})
		}
	} else {
		o := w.old.Limits
		ls = []lim{
			{"memory", sizeText(l.Memory), l.Memory > o.Memory},
			{"timeout", policy.FormatDuration(l.Timeout), l.Timeout > o.Timeout},
			{"output", sizeText(uint64(l.Output)), l.Output > o.Output},
			{"open_files", fmt.Sprint(l.OpenFiles), l.OpenFiles > o.OpenFiles},
		}
	}
	var raised []string
	blk := findBlock(w.body, "limits")
	for _, x := range ls {
		if !x.more {
			continue
		}
		if blk == nil {
			w.body.AppendNewline()
			if w.old == nil {
				w.comment("Limits: " + l.Why + ".")
			}
			blk = w.body.AppendNewBlock("limits", nil)
		}
		if x.name == "open_files" {
			blk.Body().SetAttributeValue(x.name, cty.NumberIntVal(int64(l.OpenFiles)))
		} else {
			blk.Body().SetAttributeValue(x.name, cty.StringVal(x.val))
		}
		raised = append(raised, x.name+" = "+x.val)
	}
	if len(raised) == 0 {
		return
	}
	if w.old != nil {
		blk.Body().AppendUnstructuredTokens(hclwrite.Tokens{commentTok("raised by learning again: " + strings.Join(raised, ", ") + "; " + l.Why)})
	}
	w.added = append(w.added, "limits "+strings.Join(raised, ", "))
}

// ---- tokens ----

type item struct {
	v   cty.Value
	why string
}

func strItems(ss []string) []item {
	var out []item
	for _, s := range ss {
		out = append(out, item{v: cty.StringVal(s)})
	}
	return out
}

func strList(ss []string) cty.Value {
	var vs []cty.Value
	for _, s := range ss {
		vs = append(vs, cty.StringVal(s))
	}
	return cty.TupleVal(vs)
}

func tok(t hclsyntax.TokenType, s string) *hclwrite.Token {
	return &hclwrite.Token{Type: t, Bytes: []byte(s)}
}

func newline() *hclwrite.Token { return tok(hclsyntax.TokenNewline, "\n") }

// commentTok is a line comment saying text, made safe: it ends at the end
// of its line whatever text holds.
func commentTok(text string) *hclwrite.Token {
	return tok(hclsyntax.TokenComment, commentText(text)+"\n")
}

// maxComment bounds a comment's text, in runes.
const maxComment = 300

// commentText is "# " and text with every character that is not a plain
// printable one (line breaks, control characters, bidirectional overrides
// and other invisible formatting) written as an escape, so that nothing a
// tool chose (a file name, a host) can end the comment or make it read as
// something else.
func commentText(text string) string {
	var b strings.Builder
	b.WriteString("# ")
	n := 0
	for _, r := range text {
		if n == maxComment {
			b.WriteString("…")
			break
		}
		n++
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// appendList adds items to the list attribute name of b (made when
// missing), after the elements already there and keeping their comments.
func appendList(b *hclwrite.Body, name string, items []item) {
	var add hclwrite.Tokens
	for _, it := range items {
		add = append(add, hclwrite.TokensForValue(it.v)...)
		add = append(add, tok(hclsyntax.TokenComma, ","))
		if it.why != "" {
			add = append(add, commentTok(it.why))
		} else {
			add = append(add, newline())
		}
	}
	attr := b.GetAttribute(name)
	var old hclwrite.Tokens
	if attr != nil {
		old = attr.Expr().BuildTokens(nil)
	}
	open, end := -1, -1
	for i, t := range old {
		if t.Type == hclsyntax.TokenOBrack && open < 0 {
			open = i
		}
		if t.Type == hclsyntax.TokenCBrack {
			end = i
		}
	}
	if open != 0 || end != len(old)-1 {
		// None yet, or not a plain list: write the list whole.
		var vs []cty.Value
		if attr != nil {
			if v, ok := listValue(old); ok {
				vs = v
			}
		}
		for _, it := range items {
			vs = append(vs, it.v)
		}
		if attr == nil {
			toks := hclwrite.Tokens{tok(hclsyntax.TokenOBrack, "["), newline()}
			toks = append(toks, add...)
			toks = append(toks, tok(hclsyntax.TokenCBrack, "]"))
			b.SetAttributeRaw(name, toks)
			return
		}
		b.SetAttributeValue(name, cty.TupleVal(vs))
		return
	}
	j := end - 1
	for j > open && (old[j].Type == hclsyntax.TokenNewline || old[j].Type == hclsyntax.TokenComment) {
		j--
	}
	out := append(hclwrite.Tokens{}, old[:j+1]...)
	if old[j].Type != hclsyntax.TokenOBrack && old[j].Type != hclsyntax.TokenComma {
		out = append(out, tok(hclsyntax.TokenComma, ","))
	}
	rest := old[j+1 : end]
	out = append(out, rest...)
	if len(rest) == 0 {
		out = append(out, newline())
	}
	out = append(out, add...)
	out = append(out, old[end:]...)
	b.SetAttributeRaw(name, out)
}

// listValue reads a list of plain strings from tokens, for a list written
// in a way appendList does not edit in place.
func listValue(toks hclwrite.Tokens) ([]cty.Value, bool) {
	expr, diags := hclsyntax.ParseExpression(toks.Bytes(), "", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, false
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.CanIterateElements() {
		return nil, false
	}
	var out []cty.Value
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, e)
	}
	return out, true
}

// appendObject adds key = value to the object attribute name of b (made
// when missing), after what it holds.
func appendObject(b *hclwrite.Body, name, key, value, why string) {
	add := hclwrite.Tokens{tok(hclsyntax.TokenIdent, key), tok(hclsyntax.TokenEqual, "=")}
	add = append(add, hclwrite.TokensForValue(cty.StringVal(value))...)
	if why != "" {
		add = append(add, commentTok(why))
	} else {
		add = append(add, newline())
	}
	attr := b.GetAttribute(name)
	if attr == nil {
		toks := hclwrite.Tokens{tok(hclsyntax.TokenOBrace, "{"), newline()}
		toks = append(toks, add...)
		toks = append(toks, tok(hclsyntax.TokenCBrace, "}"))
		b.SetAttributeRaw(name, toks)
		return
	}
	old := attr.Expr().BuildTokens(nil)
	end := -1
	for i, t := range old {
		if t.Type == hclsyntax.TokenCBrace {
			end = i
		}
	}
	if end != len(old)-1 || old[0].Type != hclsyntax.TokenOBrace {
		return // not an object written out: left as the person wrote it
	}
	out := append(hclwrite.Tokens{}, old[:end]...)
	if k := len(out) - 1; k < 0 || (out[k].Type != hclsyntax.TokenNewline && out[k].Type != hclsyntax.TokenComment) {
		out = append(out, newline())
	}
	out = append(out, add...)
	out = append(out, old[end:]...)
	b.SetAttributeRaw(name, out)
}

// findBlock is the first block of b of type typ with these labels.
func findBlock(b *hclwrite.Body, typ string, labels ...string) *hclwrite.Block {
	for _, blk := range b.Blocks() {
		if blk.Type() == typ && slices.Equal(blk.Labels(), labels) {
			return blk
		}
	}
	return nil
}

// missing is what of want is not among have's texts.
func missing(want []string, have []policy.Pattern) []string {
	var out []string
	for _, t := range want {
		found := false
		for _, p := range have {
			if p.Text == t {
				found = true
			}
		}
		if !found {
			out = append(out, t)
		}
	}
	return out
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sizeText writes a size as a policy does: "32MiB", "64KiB", or bytes.
func sizeText(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprint(n)
}

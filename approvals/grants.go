package approvals

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/airlockhq/airlock/decision"
)

// Grant is one remembered answer: "always allow" or "always deny" for one
// capability (kind and exact target) of one module (its digest), or, with
// scope "folder", "always allow" for writes anywhere in a folder and below
// it. A grant never names a tool alone: another module with the same name
// has none.
type Grant struct {
	ID      string // GrantID(Kind, Target, Digest), with the scope when it is a folder
	Allow   bool
	Kind    decision.Kind
	Target  string // exactly: host:port, a guest path, a variable name, a limit; or the folder
	Scope   string // "" (ScopeExact) or ScopeFolder
	Digest  string // the module's digest, "sha256:…"
	Tool    string // the tool's name when it was granted, for people; not part of the scope
	Created time.Time

	File string  // the grants file it is written in
	Pos  hcl.Pos // where its block starts
}

// The scopes of a grant.
const (
	ScopeExact  = ""       // the exact target (written as no scope, or "file"/"exact")
	ScopeFolder = "folder" // a folder and everything below it (fs.write only)
)

// GrantID is the identifier of the grant for a scope: the first 8 hex
// digits of a SHA-256 over kind, target and digest (and the scope, for a
// folder). The same scope always has the same ID, so answering again
// replaces the grant.
func GrantID(kind decision.Kind, target, digest string, scope ...string) string {
	key := string(kind) + "\x00" + target + "\x00" + digest
	if len(scope) > 0 && scope[0] == ScopeFolder {
		key += "\x00" + ScopeFolder
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}

// Covers reports whether the grant applies to a request of kind for
// target: the same target exactly, or, for a folder grant, a write whose
// every path (a rename names two) lies in the folder or below it.
func (g Grant) Covers(kind decision.Kind, target string) bool {
	if g.Kind != kind {
		return false
	}
	if g.Scope != ScopeFolder {
		return g.Target == target
	}
	if kind != decision.FSWrite {
		return false
	}
	for _, p := range strings.Split(target, " -> ") {
		if !inFolder(p, g.Target) {
			return false
		}
	}
	return true
}

// inFolder reports whether the guest path p is dir or below it. Both are
// clean absolute paths (the filesystem asks about real, cleaned
// locations); anything else is not in any folder.
func inFolder(p, dir string) bool {
	if !strings.HasPrefix(p, "/") || !strings.HasPrefix(dir, "/") || path.Clean(p) != p {
		return false
	}
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// GrantsFileName is the name of a grants file in its directory.
const GrantsFileName = "grants.hcl"

// ProjectGrantsFile is the project's grants file: .airlock/grants.hcl in dir.
func ProjectGrantsFile(dir string) string { return filepath.Join(dir, ".airlock", GrantsFileName) }

// UserGrantsFile is the user's grants file, airlock/grants.hcl in the
// user's configuration directory, or "" when there is none.
func UserGrantsFile() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "airlock", GrantsFileName)
}

// Grants are the remembered answers of one or more grants files: the
// project's and the user's. New answers are written to the first file.
// Grants is safe for concurrent use, and several processes may remember
// answers in the same file at once (each write holds a lock on the file's
// directory, reads the file again and replaces it whole).
type Grants struct {
	files []string

	mu     sync.Mutex
	grants []Grant
}

// LoadGrants reads the grants files (missing files are empty). New answers
// are written to files[0]. A malformed file is reported file:line:col, and
// nothing of it is used.
func LoadGrants(files ...string) (*Grants, hcl.Diagnostics) {
	g := &Grants{}
	var diags hcl.Diagnostics
	for _, f := range files {
		if f == "" {
			continue
		}
		g.files = append(g.files, f)
		gs, d := readGrants(f)
		diags = append(diags, d...)
		if !d.HasErrors() {
			g.grants = append(g.grants, gs...)
		}
	}
	return g, diags
}

// Files returns the grants files, the one new answers go to first.
func (g *Grants) Files() []string { return slices.Clone(g.files) }

// Lookup returns the grant for a capability of a module. A deny in any file
// wins over an allow. Lookup on a nil *Grants finds nothing.
func (g *Grants) Lookup(kind decision.Kind, target, digest string) (Grant, bool) {
	if g == nil {
		return Grant{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var found Grant
	ok := false
	for _, gr := range g.grants {
		if gr.Digest == digest && gr.Covers(kind, target) {
			if !ok || !gr.Allow {
				found, ok = gr, true
			}
		}
	}
	return found, ok
}

// List returns every grant, file by file, in the order written.
func (g *Grants) List() []Grant {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.grants)
}

// Remember writes gr to the first grants file, replacing a grant of the
// same scope. gr.ID, File and Created are filled in.
func (g *Grants) Remember(gr Grant) error {
	if len(g.files) == 0 {
		return errors.New("no grants file")
	}
	gr.ID = GrantID(gr.Kind, gr.Target, gr.Digest, gr.Scope)
	gr.Created = time.Now().UTC().Truncate(time.Second)
	file := g.files[0]
	gr.File = file
	return g.update(file, func(gs []Grant) []Grant {
		gs = slices.DeleteFunc(gs, func(x Grant) bool { return x.ID == gr.ID })
		return append(gs, gr)
	})
}

// Revoke removes the grants for which drop returns true from every file,
// and returns how many were removed.
func (g *Grants) Revoke(drop func(Grant) bool) (int, error) {
	n := 0
	for _, f := range g.files {
		err := g.update(f, func(gs []Grant) []Grant {
			before := len(gs)
			gs = slices.DeleteFunc(gs, drop)
			n += before - len(gs)
			return gs
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// update rewrites file with change applied to its grants, under a lock on
// its directory, and reloads what g holds of it.
func (g *Grants) update(file string, change func([]Grant) []Grant) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("remembering a grant: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("locking %s: %w", dir, err)
	}
	defer unlock()
	gs, diags := readGrants(file)
	if diags.HasErrors() {
		return fmt.Errorf("reading %s: %w", file, diags)
	}
	gs = change(gs)
	if err := writeGrants(file, gs); err != nil {
		return err
	}
	gs, _ = readGrants(file) // for the positions
	g.mu.Lock()
	defer g.mu.Unlock()
	var kept []Grant
	for _, f := range g.files {
		if f == file {
			kept = append(kept, gs...)
			continue
		}
		for _, x := range g.grants {
			if x.File == f {
				kept = append(kept, x)
			}
		}
	}
	g.grants = kept
	return nil
}

var grantSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "grant", LabelNames: []string{"id"}}},
}

var grantBodySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "answer", Required: true},
		{Name: "kind", Required: true},
		{Name: "target", Required: true},
		{Name: "digest", Required: true},
		{Name: "scope"},
		{Name: "tool"},
		{Name: "created"},
	},
}

func readGrants(file string) ([]Grant, hcl.Diagnostics) {
	src, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read grants file " + file, Detail: err.Error()}}
	}
	f, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	content, diags := f.Body.Content(grantSchema)
	var gs []Grant
	for _, b := range content.Blocks {
		body, bdiags := b.Body.Content(grantBodySchema)
		diags = append(diags, bdiags...)
		if bdiags.HasErrors() {
			continue
		}
		str := func(name string) string {
			a := body.Attributes[name]
			if a == nil {
				return ""
			}
			v, vd := a.Expr.Value(nil)
			if vd.HasErrors() || v.IsNull() || !v.Type().Equals(cty.String) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + name,
					Detail: name + " must be a string.", Subject: a.Expr.Range().Ptr()})
				return ""
			}
			return v.AsString()
		}
		gr := Grant{ID: b.Labels[0], Kind: decision.Kind(str("kind")), Target: str("target"), Digest: str("digest"), Tool: str("tool"),
			File: file, Pos: b.DefRange.Start}
		switch scope := str("scope"); scope {
		case "", "file", "exact":
		case ScopeFolder:
			gr.Scope = ScopeFolder
			if gr.Kind != decision.FSWrite || !strings.HasPrefix(gr.Target, "/") || path.Clean(gr.Target) != gr.Target {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid folder grant",
					Detail:  "A grant with scope = \"folder\" is for kind = \"fs.write\" and a clean absolute guest folder, like \"/work/docs\".",
					Subject: body.Attributes["scope"].Expr.Range().Ptr()})
			}
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid scope",
				Detail: fmt.Sprintf("scope must be \"file\" or \"folder\", not %q.", scope), Subject: body.Attributes["scope"].Expr.Range().Ptr()})
		}
		switch answer := str("answer"); answer {
		case "allow":
			gr.Allow = true
		case "deny":
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid answer",
				Detail: fmt.Sprintf("answer must be \"allow\" or \"deny\", not %q.", answer), Subject: body.Attributes["answer"].Expr.Range().Ptr()})
		}
		if !strings.HasPrefix(gr.Digest, "sha256:") {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid digest",
				Detail: "A grant is scoped to one module: digest must be \"sha256:…\", never a tool name.", Subject: body.Attributes["digest"].Expr.Range().Ptr()})
		}
		if s := str("created"); s != "" {
			gr.Created, _ = time.Parse(time.RFC3339, s)
		}
		gs = append(gs, gr)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return gs, diags
}

const grantsHeader = `# airlock remembered grants: the "always allow" and "always deny" answers.
# Each grant is one capability (kind and exact target, or with
# scope = "folder" every write in a folder and below) of one module (its
# digest); another module, even with the same name, is asked again.
# List them with "airlock grants list"; revoke one with "airlock grants revoke ID",
# or delete its block.
`

func writeGrants(file string, gs []Grant) error {
	var b strings.Builder
	b.WriteString(grantsHeader)
	for _, g := range gs {
		answer := "deny"
		if g.Allow {
			answer = "allow"
		}
		fmt.Fprintf(&b, "\ngrant %s {\n", hclQuote(g.ID))
		fmt.Fprintf(&b, "  answer  = %s\n", hclQuote(answer))
		fmt.Fprintf(&b, "  kind    = %s\n", hclQuote(string(g.Kind)))
		fmt.Fprintf(&b, "  target  = %s\n", hclQuote(g.Target))
		fmt.Fprintf(&b, "  digest  = %s\n", hclQuote(g.Digest))
		if g.Scope == ScopeFolder {
			fmt.Fprintf(&b, "  scope   = %s\n", hclQuote(g.Scope))
		}
		if g.Tool != "" {
			fmt.Fprintf(&b, "  tool    = %s\n", hclQuote(g.Tool))
		}
		if !g.Created.IsZero() {
			fmt.Fprintf(&b, "  created = %s\n", hclQuote(g.Created.UTC().Format(time.RFC3339)))
		}
		b.WriteString("}\n")
	}
	out := []byte(b.String())
	tmp, err := os.CreateTemp(filepath.Dir(file), ".grants-*.hcl")
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

// hclQuote writes s as an HCL quoted string: the escapes of JSON for
// quotes, backslashes and control characters, and "$${" and "%%{" so that
// nothing in s is read as a template.
func hclQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\u%04x`, r)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+1:], "{"):
			b.WriteRune(r)
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

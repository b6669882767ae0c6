package policy

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/airlockhq/airlock/internal/hclx"
)

// Credential binds a secret held on the host to the hosts it is for. The
// host adds it, as a header, to the tool's HTTP requests to those hosts; the
// tool never sees the value. The policy holds only where the secret is (a
// variable name or a file path), never the secret.
type Credential struct {
	Name      string   // the block label
	Env       string   // a host environment variable holding the secret, or
	File      string   // a host file holding it, absolute (a relative one resolves against the policy's directory)
	Hosts     []string // exact host names, IP literals or "*." wildcards, normalized (NormalizeHost)
	Header    string   // the header name, e.g. "Authorization"
	Template  string   // the header value with {value} where the secret goes, e.g. "Bearer {value}"
	AllowHTTP bool     // allow_http = true lets it go over plain http; by default it goes over TLS only
	Origin    Origin   // the credential block

	envAt, fileAt hcl.Range // where env and file were written, for diagnostics
}

// Value returns the header value with secret in place of {value}.
func (c Credential) Value(secret string) string {
	return strings.ReplaceAll(c.Template, "{value}", secret)
}

// AppliesTo reports whether the host adds this credential to a request with
// this scheme to this host: the host matches one of Hosts (a "*." wildcard
// covers names below it, not the name itself), and the scheme is https, or
// http when AllowHTTP is set. host may be in any form NormalizeHost reads.
func (c Credential) AppliesTo(scheme, host string) bool {
	switch {
	case strings.EqualFold(scheme, "https"):
	case strings.EqualFold(scheme, "http") && c.AllowHTTP:
	default:
		return false
	}
	h, _, _, err := NormalizeHost(host)
	if err != nil {
		return false
	}
	for _, want := range c.Hosts {
		if suffix, ok := strings.CutPrefix(want, "*"); ok {
			if n := len(h) - len(suffix); n > 0 && strings.EqualFold(h[n:], suffix) {
				return true
			}
		} else if strings.EqualFold(h, want) {
			return true
		}
	}
	return false
}

// credentialSchema is the body of a credential "NAME" { … } block.
var credentialSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "env"},
		{Name: "file"},
		{Name: "hosts"},
		{Name: "header"},
		{Name: "allow_http"},
	},
}

// framingHeaders are headers the HTTP client itself owns; a credential may
// not set them.
var framingHeaders = []string{
	"Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade",
	"Te", "Trailer", "Keep-Alive", "Proxy-Connection",
}

func decodeCredential(d *decoder, b *hcl.Block) hcl.Diagnostics {
	c, diags := decodeCredentialBlock(d, b)
	if c != nil {
		d.p.Credentials = append(d.p.Credentials, *c)
	}
	return diags
}

func decodeCredentialBlock(d *decoder, b *hcl.Block) (*Credential, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	name, nameRange := b.Labels[0], b.LabelRanges[0]
	if err := checkCredentialName(name); err != nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid credential name",
			Detail:   sentence(err.Error()),
			Subject:  nameRange.Ptr(),
		})
	}
	for _, prev := range d.p.Credentials {
		if prev.Name == name {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate credential",
				Detail:   fmt.Sprintf("A credential named %q is already declared at %s.", name, originText(prev.Origin)),
				Subject:  nameRange.Ptr(),
			})
		}
	}
	content, cdiags := hclx.Content(b.Body, credentialSchema, "a credential block")
	diags = append(diags, cdiags...)
	c := &Credential{Name: name, Origin: d.origin(b.DefRange)}
	where := fmt.Sprintf("Credential %q", name)

	envAttr, fileAttr := content.Attributes["env"], content.Attributes["file"]
	switch {
	case envAttr == nil && fileAttr == nil:
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Credential without a secret",
			Detail: where + ` says nowhere where its secret is: set env = "NAME" (a host environment variable) ` +
				`or file = "path" (a host file).`,
			Subject: b.DefRange.Ptr(),
		})
	case envAttr != nil && fileAttr != nil:
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Credential with two secrets",
			Detail:   where + " sets both env and file; keep one of the two.",
			Subject:  fileAttr.NameRange.Ptr(),
		})
	}
	if a := envAttr; a != nil {
		s, sdiags := stringAttr(a, `"GITHUB_TOKEN"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			if err := checkEnvName(s); err != nil {
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid variable name", sentence(err.Error())))
			}
			c.Env, c.envAt = s, a.Expr.Range()
		}
	}
	if a := fileAttr; a != nil {
		s, sdiags := stringAttr(a, `"secrets/token"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			abs, err := resolveSecretFile(d.baseDir, s)
			if err != nil {
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid file", sentence(err.Error())))
			}
			c.File, c.fileAt = abs, a.Expr.Range()
		}
	}

	if a := content.Attributes["hosts"]; a == nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Credential without hosts",
			Detail:   where + ` names no host to add it for: list them, as in hosts = ["api.github.com"].`,
			Subject:  b.DefRange.Ptr(),
		})
	} else {
		items, ldiags := stringListAttr(a, `["api.github.com", "*.example.com"]`)
		diags = append(diags, ldiags...)
		if len(items) == 0 && !ldiags.HasErrors() {
			diags = append(diags, valueError(a, a.Expr.Range(), "Credential without hosts",
				`hosts is empty: list the hosts the header is added for, as in ["api.github.com"].`))
		}
		for _, it := range items {
			h, err := checkCredentialHost(it.Value)
			if err != nil {
				diags = append(diags, valueError(a, it.Range, "Invalid host", sentence(err.Error())))
				continue
			}
			c.Hosts = append(c.Hosts, h)
		}
	}

	if a := content.Attributes["header"]; a == nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Credential without a header",
			Detail:   where + ` says not how to send the secret: add header = "Name: template", as in "Authorization: Bearer {value}".`,
			Subject:  b.DefRange.Ptr(),
		})
	} else {
		s, sdiags := stringAttr(a, `"Authorization: Bearer {value}"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			hname, tmpl, err := parseHeaderTemplate(s)
			if err != nil {
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid header", sentence(err.Error())))
			}
			c.Header, c.Template = hname, tmpl
		}
	}

	if a := content.Attributes["allow_http"]; a != nil {
		v, bdiags := boolAttr(a)
		diags = append(diags, bdiags...)
		c.AllowHTTP = v && !bdiags.HasErrors()
		if c.AllowHTTP {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Secret sent in clear text",
				Detail: fmt.Sprintf("allow_http = true adds %s to plain http requests too, where anyone on the path can read it. "+
					"Leave it out unless the hosts are reached over a network you trust.", where),
				Subject: a.Range.Ptr(),
			})
		}
	}

	// Two credentials that set the same header for the same host: which
	// one would be sent depends on their order. Refuse it.
	if c.Header != "" {
		for _, prev := range d.p.Credentials {
			if !strings.EqualFold(prev.Header, c.Header) {
				continue
			}
			for _, h := range c.Hosts {
				if slices.Contains(prev.Hosts, h) {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Two credentials for one header",
						Detail: fmt.Sprintf("Credential %q (%s) already adds the header %s for %s; one host gets one value per header.",
							prev.Name, originText(prev.Origin), prev.Header, h),
						Subject: nameRange.Ptr(),
					})
				}
			}
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return c, diags
}

// finishCredentials refuses a policy that would hand a credential's secret
// to the tool another way: its variable passed into the environment, or its
// file readable in a mount.
func finishCredentials(d *decoder) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, l := range credentialLeaks(d.p) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Secret reachable by the tool",
			Detail:   l.detail,
			Subject:  l.at.Ptr(),
		})
	}
	return diags
}

type leak struct {
	detail string
	at     hcl.Range
}

// credentialLeaks lists each way p lets the tool read a credential's secret
// itself.
func credentialLeaks(p *Policy) []leak {
	var leaks []leak
	for _, c := range p.Credentials {
		if c.Env != "" && slices.Contains(p.Env.Pass, c.Env) {
			leaks = append(leaks, leak{
				detail: fmt.Sprintf("Credential %q reads %s, and the environment passes %s into the sandbox (%s), where the tool can read it. Remove it from env.pass.",
					c.Name, c.Env, c.Env, originText(p.Env.Origins[c.Env])),
				at: c.envAt,
			})
		}
		if c.File == "" {
			continue
		}
		for _, m := range p.Mounts {
			rel, err := filepath.Rel(m.Host, c.File)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				continue
			}
			rel = filepath.ToSlash(rel)
			if _, hidden := MatchAny(m.Hide, rel); hidden || rel == "." {
				continue
			}
			leaks = append(leaks, leak{
				detail: fmt.Sprintf("Credential %q reads the file %s, which the tool can read at %s (mount %s, %s). "+
					"Keep the file outside every mount, or hide it: hide = [%q].",
					c.Name, c.File, path.Join(m.Guest, rel), m.Guest, originText(m.Origin), "./"+rel),
				at: c.fileAt,
			})
		}
	}
	return leaks
}

// checkCredentialName accepts letters, digits, "-", "_" and ".".
func checkCredentialName(name string) error {
	if name == "" {
		return errors.New("a credential name may not be empty")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("%q is not a credential name: use letters, digits, \"-\", \"_\" and \".\"", name)
		}
	}
	return nil
}

// checkCredentialHost validates one element of hosts and returns it
// normalized.
func checkCredentialHost(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("a host may not be empty")
	case s == "*" || s == "*.":
		return "", fmt.Errorf("%q would send the secret to every host the tool reaches; name the hosts", s)
	case strings.Contains(s, "://"):
		_, rest, _ := strings.Cut(s, "://")
		if i := strings.IndexAny(rest, "/:?#"); i >= 0 && !strings.HasPrefix(rest, "[") {
			rest = rest[:i]
		}
		return "", fmt.Errorf("%q is a URL; hosts are names, so write %q (the scheme is https unless allow_http = true)", s, rest)
	case strings.HasPrefix(s, "*."):
		name := s[2:]
		if strings.IndexByte(name, '*') >= 0 {
			break
		}
		h, _, isIP, err := NormalizeHost(name)
		if err != nil {
			return "", err
		}
		if isIP {
			return "", fmt.Errorf("%q: a wildcard covers names, not IP addresses", s)
		}
		return "*." + h, nil
	}
	if strings.IndexByte(s, '*') >= 0 {
		return "", fmt.Errorf("%q: a wildcard may only be the whole first label of a name, as in \"*.example.com\"", s)
	}
	h, _, _, err := NormalizeHost(s)
	if err != nil {
		return "", err
	}
	return h, nil
}

// parseHeaderTemplate splits "Name: template".
func parseHeaderTemplate(s string) (name, template string, err error) {
	name, template, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("header %q has no \":\": write \"Name: template\", as in \"Authorization: Bearer {value}\"", s)
	}
	name, template = strings.TrimSpace(name), strings.TrimSpace(template)
	if name == "" {
		return "", "", fmt.Errorf("header %q has no name before \":\"", s)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return "", "", fmt.Errorf("header name %q has %q in it, which a header name may not contain", name, string(name[i]))
		}
	}
	for _, f := range framingHeaders {
		if strings.EqualFold(name, f) {
			return "", "", fmt.Errorf("the header %s belongs to the HTTP client; a credential may not set it", name)
		}
	}
	for i := 0; i < len(template); i++ {
		if c := template[i]; c < ' ' && c != '\t' || c == 0x7f {
			return "", "", fmt.Errorf("the value of header %s has a control character in it", name)
		}
	}
	if !strings.Contains(template, "{value}") {
		return "", "", fmt.Errorf("header %q has no {value}: write {value} where the secret goes, as in %q", s, name+": Bearer {value}")
	}
	return name, template, nil
}

// isTokenChar reports whether c may appear in an HTTP header name.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// resolveSecretFile makes a credential's file absolute and clean, resolving
// a relative one against base. The file is not read: the host reads it when
// it sends a request.
func resolveSecretFile(base, file string) (string, error) {
	switch {
	case file == "":
		return "", errors.New(`file may not be empty; write the path of the file holding the secret`)
	case strings.ContainsRune(file, 0):
		return "", fmt.Errorf("file %q contains a NUL byte", file)
	case strings.HasPrefix(file, "~"):
		return "", fmt.Errorf("file %q starts with \"~\", which is not expanded; write the path out", file)
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(base, file)
	}
	return filepath.Clean(file), nil
}

// explainCredentials writes one line per credential: where its secret is and
// which requests get it, never the secret.
func explainCredentials(line func(string, ...any), cs []Credential) {
	for _, c := range cs {
		from := "the host variable " + c.Env
		if c.File != "" {
			from = "the host file " + c.File
		}
		schemes := "HTTPS"
		if c.AllowHTTP {
			schemes = "HTTP and HTTPS"
		}
		line("Credential %s: the host adds the header %s to %s requests to %s, with the secret from %s; the tool never sees it (%s).",
			c.Name, c.Header, schemes, strings.Join(c.Hosts, ", "), from, originText(c.Origin))
	}
}

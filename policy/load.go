package policy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/internal/hclx"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Loader parses policy files and keeps the source of every file it has read,
// so that a caller can render diagnostics with WriteDiagnostics (one line
// each) or with hcl's snippet writer:
//
//	var l policy.Loader
//	p, diags := l.Load("policy.hcl", policy.LayerProject)
//	wr := hcl.NewDiagnosticTextWriter(os.Stderr, l.Files(), 80, false)
//	wr.WriteDiagnostics(diags)
//
// The zero Loader is ready to use. A Loader is not safe for concurrent use.
type Loader struct {
	files map[string]*hcl.File
}

// Files returns the files parsed so far, by the filename they were given.
// The map belongs to the Loader; do not change it.
func (l *Loader) Files() map[string]*hcl.File {
	if l.files == nil {
		l.files = make(map[string]*hcl.File)
	}
	return l.files
}

// Parse parses and validates one policy file. Use Loader.Parse to keep the
// source for rendering diagnostics with snippets.
func Parse(src []byte, filename string, layer Layer, baseDir string) (*Policy, hcl.Diagnostics) {
	var l Loader
	return l.Parse(src, filename, layer, baseDir)
}

// Load reads the policy file at path and parses it with BaseDir(path) as the
// base for relative host paths. Use Loader.Load to keep the source for
// rendering diagnostics with snippets.
func Load(path string, layer Layer) (*Policy, hcl.Diagnostics) {
	var l Loader
	return l.Load(path, layer)
}

// Load reads the policy file at path and parses it (see Loader.Parse) with
// BaseDir(path) as baseDir.
func (l *Loader) Load(path string, layer Layer) (*Policy, hcl.Diagnostics) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read policy file " + path,
			Detail:   err.Error(),
		}}
	}
	return l.Parse(src, path, layer, BaseDir(path))
}

// ProjectDir is the name of a project's airlock folder: .airlock/policy.hcl
// is the project's policy, beside its grants and audit log.
const ProjectDir = ".airlock"

// BaseDir returns the directory against which a relative path in the policy
// file at path resolves (a mount's host, a credential's file): the
// directory that holds the file, except that for a file directly inside a
// folder named .airlock it is the folder that holds .airlock, the project.
// So "." in .airlock/policy.hcl is the project, whether airlock found the
// file itself or was given it with --policy. The path is taken as given:
// symbolic links in it are not followed.
func BaseDir(path string) string {
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if filepath.Base(dir) == ProjectDir {
		return filepath.Dir(dir)
	}
	return dir
}

// Parse parses src, named filename in diagnostics and origins, as a policy
// of the given layer. A relative mount host resolves against baseDir.
//
// Every problem found is returned, sorted by position; warnings do not stop
// the policy from being returned. The *Policy is nil exactly when diags has
// errors. Limits left out are filled in with the defaults, and each mount's
// Protect and Hide lists start with the built-in patterns.
func (l *Loader) Parse(src []byte, filename string, layer Layer, baseDir string) (*Policy, hcl.Diagnostics) {
	return l.parse(src, filename, layer, baseDir, true)
}

func (l *Loader) parse(src []byte, filename string, layer Layer, baseDir string, statHosts bool) (*Policy, hcl.Diagnostics) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if file != nil {
		l.Files()[filename] = file
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return l.decode(file, diags, layer, baseDir, statHosts)
}

// decode decodes a parsed file, which it does not change (the embedded
// default's is parsed once and decoded by every Default).
func (l *Loader) decode(file *hcl.File, diags hcl.Diagnostics, layer Layer, baseDir string, statHosts bool) (*Policy, hcl.Diagnostics) {
	base, err := filepath.Abs(baseDir)
	if err != nil {
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot resolve the policy's directory",
			Detail:   err.Error(),
		})
	}
	d := &decoder{
		layer:     layer,
		baseDir:   base,
		statHosts: statHosts,
		p:         &Policy{},
		once:      make(map[string]hcl.Range),
	}
	content, cdiags := hclx.Content(file.Body, rootSchema, "a policy file")
	diags = append(diags, cdiags...)
	for _, b := range content.Blocks {
		kind := blockKindOf(b.Type)
		if kind.Once {
			if prev, dup := d.once[b.Type]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate " + b.Type + " block",
					Detail: fmt.Sprintf("A policy file has at most one %s block, and one is already at %s; merge the two.",
						b.Type, hclx.Pos(prev)),
					Subject: b.DefRange.Ptr(),
				})
				continue
			}
			d.once[b.Type] = b.DefRange
		}
		diags = append(diags, kind.Decode(d, b)...)
	}
	for _, kind := range blockKinds {
		if kind.Finish != nil {
			diags = append(diags, kind.Finish(d)...)
		}
	}
	sortDiagnostics(diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return d.p, diags
}

// decoder is the state of decoding one file.
type decoder struct {
	layer     Layer
	baseDir   string
	statHosts bool // false only for the embedded default, whose host is the caller's cwd
	p         *Policy
	once      map[string]hcl.Range // blocks allowed once: where each was first seen

	mountLabels []hcl.Range // the guest label of each of p.Mounts
}

func (d *decoder) origin(r hcl.Range) Origin { return Origin{Layer: d.layer, Range: r} }

// blockKind is one top-level block type of the language.
type blockKind struct {
	Type   string
	Labels []string // label names, for hcl's "missing label" messages
	Once   bool     // at most one per file
	// Decode decodes one block into d.p.
	Decode func(d *decoder, b *hcl.Block) hcl.Diagnostics
	// Finish, if set, runs once after every block is decoded, also when
	// there was none of this type: checks across blocks, defaults.
	Finish func(d *decoder) hcl.Diagnostics
}

// blockKinds is the top level of the language. To add a block type, write its
// schema and decoder in a file of its own and add a line here.
var blockKinds = []blockKind{
	{Type: "mount", Labels: []string{"guest path"}, Decode: decodeMount, Finish: finishMounts},
	{Type: "env", Once: true, Decode: decodeEnv, Finish: finishEnv},
	{Type: "limits", Once: true, Decode: decodeLimits, Finish: finishLimits},
	{Type: "network", Once: true, Decode: decodeNetwork, Finish: finishNetwork},
	{Type: "credential", Labels: []string{"name"}, Decode: decodeCredential, Finish: finishCredentials},
	{Type: "telemetry", Once: true, Decode: decodeTelemetry, Finish: finishTelemetry},
	{Type: "approvals", Once: true, Decode: decodeApprovals, Finish: finishApprovals},
	{Type: "sandbox", Once: true, Decode: decodeSandbox, Finish: finishSandbox},
}

var rootSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, k := range blockKinds {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: k.Type, LabelNames: k.Labels})
	}
	return s
}()

func blockKindOf(typ string) blockKind {
	for _, k := range blockKinds {
		if k.Type == typ {
			return k
		}
	}
	panic("policy: block type " + typ + " passed the schema but has no decoder")
}

// sortDiagnostics orders diagnostics by file and position; those without a
// position come first, in their original order.
func sortDiagnostics(diags hcl.Diagnostics) {
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		switch {
		case a.Subject == nil && b.Subject == nil:
			return 0
		case a.Subject == nil:
			return -1
		case b.Subject == nil:
			return 1
		}
		if c := strings.Compare(a.Subject.Filename, b.Subject.Filename); c != 0 {
			return c
		}
		return a.Subject.Start.Byte - b.Subject.Start.Byte
	})
}

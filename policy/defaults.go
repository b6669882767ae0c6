package policy

import (
	_ "embed"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// The default limits, used for every limit a policy leaves out.
const (
	DefaultMemory    uint64 = 256 << 20       // 256 MiB of linear memory
	DefaultTimeout          = 2 * time.Minute // wall time
	DefaultOutput    int64  = 16 << 20        // 16 MiB per stream
	DefaultOpenFiles        = 256
)

// defaultProtect and defaultHide are never changed; DefaultProtect and
// DefaultHide hand out copies.
var (
	defaultProtect = []string{
		".git", ".airlock",
		".envrc", ".bashrc", ".bash_profile", ".zshrc", ".zprofile", ".profile",
		".gitconfig",
	}
	defaultHide = []string{
		".env", ".env.*", "*.pem", ".netrc", "id_rsa", "id_ecdsa", "id_ed25519",
	}
)

// DefaultProtect returns the patterns every mount protects unless it says
// protect_defaults = false: repository metadata (.git, whose hooks run on the
// host), airlock's own state (.airlock), and files a shell or git reads at
// start-up (.envrc, .bashrc, .bash_profile, .zshrc, .zprofile, .profile,
// .gitconfig). A write there would run code outside the sandbox later.
// Each is a name, so it matches at any depth.
func DefaultProtect() []string { return slices.Clone(defaultProtect) }

// DefaultHide returns the patterns every mount hides: files that commonly
// hold secrets (.env, .env.*, *.pem, .netrc, id_rsa, id_ecdsa, id_ed25519).
// Each is a name, so it matches at any depth.
func DefaultHide() []string { return slices.Clone(defaultHide) }

//go:embed default.hcl
var defaultHCL []byte

// DefaultFilename names the embedded default policy in origins: a decision
// it made says "decided by builtin:default.hcl:5:3".
const DefaultFilename = "builtin:default.hcl"

// Default returns the policy used when none is given, parsed from the
// embedded default.hcl: cwd as /work with write access, the default protected
// and hidden patterns, no host environment variable, the default limits, no
// network. Its rules have Layer LayerBuiltin. Default does not check that cwd
// exists; the filesystem that mounts it will.
func Default(cwd string) *Policy {
	if abs, err := filepath.Abs(cwd); err == nil {
		cwd = abs
	}
	var l Loader
	p, diags := l.decode(defaultFile(), nil, LayerBuiltin, cwd, false)
	if diags.HasErrors() {
		panic("policy: the embedded default.hcl is invalid: " + diags.Error())
	}
	return p
}

// defaultFile is the embedded default.hcl, parsed the first time a
// process asks for it: a constant computed once, never changed, which
// every Default decodes into a Policy of its own. The parse (HCL's
// scanner, a large state machine) was most of a Default; a warm worker
// (airlock warm) makes it before its run, which then only decodes.
var defaultFile = sync.OnceValue(func() *hcl.File {
	file, diags := hclsyntax.ParseConfig(defaultHCL, DefaultFilename, hcl.InitialPos)
	if len(diags) > 0 {
		panic("policy: the embedded default.hcl is invalid: " + diags.Error())
	}
	return file
})

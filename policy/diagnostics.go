package policy

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics writes each diagnostic on one line, the shape `airlock
// policy check` prints:
//
//	policy.hcl:3:12: error: Invalid access; access must be "read" or "write", not "rw".
//	policy.hcl:7:3: warning: Built-in protection turned off; protect_defaults = false lets …
//
// A diagnostic without a source range (a flag, a file that cannot be read)
// starts at its severity. Line breaks in a detail become spaces.
//
// The one-line form needs only the ranges; files is taken so that a caller can
// switch to hcl's snippet writer, hcl.NewDiagnosticTextWriter(w, files, width,
// color), with the same arguments. Loader.Files returns them; files may be nil.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	_ = files
	var b strings.Builder
	for _, d := range diags {
		b.Reset()
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		if d.Severity == hcl.DiagWarning {
			b.WriteString("warning: ")
		} else {
			b.WriteString("error: ")
		}
		b.WriteString(oneLine(d.Summary))
		if d.Detail != "" {
			b.WriteString("; ")
			b.WriteString(oneLine(d.Detail))
		}
		b.WriteByte('\n')
		if _, err := io.WriteString(w, b.String()); err != nil {
			return fmt.Errorf("writing diagnostics: %w", err)
		}
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// sentence turns an error message into a diagnostic detail: a capital first
// letter and a closing full stop.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

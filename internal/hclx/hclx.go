// Package hclx holds what every HCL format airlock reads (policies, tool
// manifests, grants files) says the same way: where in a file something
// is, the "Did you mean …?" hint for a word that is almost right, and the
// decoding of a block's body (Content) that names every argument and block
// it does not know with such a hint.
package hclx

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// Pos is r's start as file:line:col, the way diagnostics and decisions
// name a place in a file.
func Pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

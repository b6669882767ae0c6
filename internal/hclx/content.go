package hclx

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Content decodes body against schema and reports every attribute and
// block the schema does not know, with a "Did you mean" hint (or the
// names it expects, or that it is a block written as an argument and the
// other way round). where names the body in messages: "a mount block".
func Content(body hcl.Body, schema *hcl.BodySchema, where string) (*hcl.BodyContent, hcl.Diagnostics) {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return body.Content(schema)
	}
	content, _, diags := body.PartialContent(schema)
	var attrNames, blockTypes []string
	for _, a := range schema.Attributes {
		attrNames = append(attrNames, a.Name)
	}
	for _, b := range schema.Blocks {
		blockTypes = append(blockTypes, b.Type)
	}
	for name, a := range sb.Attributes {
		if slices.Contains(attrNames, name) {
			continue
		}
		var hint string
		switch {
		case DidYouMean(name, attrNames) != "":
			hint = fmt.Sprintf(" Did you mean %q?", DidYouMean(name, attrNames))
		case slices.Contains(blockTypes, name):
			hint = fmt.Sprintf(" Did you mean to write %s as a block? Write it as %s { … }, without the equals sign.", name, name)
		case len(attrNames) == 0:
			hint = " No arguments are expected here."
		default:
			hint = " Expected one of: " + strings.Join(attrNames, ", ") + "."
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   fmt.Sprintf("An argument named %q is not expected in %s.%s", name, where, hint),
			Subject:  a.NameRange.Ptr(),
		})
	}
	for _, b := range sb.Blocks {
		if slices.Contains(blockTypes, b.Type) {
			continue
		}
		var hint string
		switch {
		case DidYouMean(b.Type, blockTypes) != "":
			hint = fmt.Sprintf(" Did you mean %q?", DidYouMean(b.Type, blockTypes))
		case slices.Contains(attrNames, b.Type):
			hint = fmt.Sprintf(" Did you mean the argument %q? Write it with an equals sign: %s = ….", b.Type, b.Type)
		case len(blockTypes) == 0:
			hint = " No blocks are expected here."
		default:
			hint = " Expected one of: " + strings.Join(blockTypes, ", ") + "."
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported block type",
			Detail:   fmt.Sprintf("Blocks of type %q are not expected in %s.%s", b.Type, where, hint),
			Subject:  b.TypeRange.Ptr(),
		})
	}
	return content, diags
}

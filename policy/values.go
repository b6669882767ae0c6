package policy

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// An item is one string from a list or map in a policy file, with its range.
type item struct {
	Value string
	Range hcl.Range
}

func valueError(attr *hcl.Attribute, subject hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  subject.Ptr(),
		Context:  attr.Range.Ptr(),
	}
}

// constValue evaluates expr with no variables and no functions: a policy is
// constant.
// ok is false when the value could not be evaluated; diags then says why.
func constValue(expr hcl.Expression) (v cty.Value, ok bool, diags hcl.Diagnostics) {
	v, diags = expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false, diags
	}
	return v, true, diags
}

func stringAttr(attr *hcl.Attribute, example string) (string, hcl.Diagnostics) {
	v, ok, diags := constValue(attr.Expr)
	if !ok {
		return "", diags
	}
	if v.IsNull() || v.Type() != cty.String {
		return "", append(diags, valueError(attr, attr.Expr.Range(), "Invalid "+attr.Name,
			fmt.Sprintf("%s must be a string, like %s.", attr.Name, example)))
	}
	return v.AsString(), diags
}

func boolAttr(attr *hcl.Attribute) (bool, hcl.Diagnostics) {
	v, ok, diags := constValue(attr.Expr)
	if !ok {
		return false, diags
	}
	if v.IsNull() || v.Type() != cty.Bool {
		return false, append(diags, valueError(attr, attr.Expr.Range(), "Invalid "+attr.Name,
			attr.Name+" must be true or false."))
	}
	return v.True(), diags
}

// stringListAttr decodes a list of strings, keeping each element's range.
func stringListAttr(attr *hcl.Attribute, example string) ([]item, hcl.Diagnostics) {
	exprs, ldiags := hcl.ExprList(attr.Expr)
	if ldiags.HasErrors() {
		return nil, hcl.Diagnostics{valueError(attr, attr.Expr.Range(), "Invalid "+attr.Name,
			fmt.Sprintf("%s must be a list of strings, like %s.", attr.Name, example))}
	}
	var items []item
	var diags hcl.Diagnostics
	for _, e := range exprs {
		v, ok, vdiags := constValue(e)
		diags = append(diags, vdiags...)
		if !ok {
			continue
		}
		if v.IsNull() || v.Type() != cty.String {
			diags = append(diags, valueError(attr, e.Range(), "Invalid "+attr.Name,
				fmt.Sprintf("Each element of %s must be a string, like %s.", attr.Name, example)))
			continue
		}
		items = append(items, item{Value: v.AsString(), Range: e.Range()})
	}
	return items, diags
}

// stringMapAttr decodes a map of strings, keeping each key's range. Keys
// appear in source order.
func stringMapAttr(attr *hcl.Attribute, example string) (keys, values []item, diags hcl.Diagnostics) {
	pairs, mdiags := hcl.ExprMap(attr.Expr)
	if mdiags.HasErrors() {
		return nil, nil, hcl.Diagnostics{valueError(attr, attr.Expr.Range(), "Invalid "+attr.Name,
			fmt.Sprintf("%s must be a map of strings, like %s.", attr.Name, example))}
	}
	for _, kv := range pairs {
		k, kok, kdiags := constValue(kv.Key)
		v, vok, vdiags := constValue(kv.Value)
		diags = append(diags, kdiags...)
		diags = append(diags, vdiags...)
		if !kok || !vok {
			continue
		}
		if k.IsNull() || k.Type() != cty.String {
			diags = append(diags, valueError(attr, kv.Key.Range(), "Invalid "+attr.Name,
				fmt.Sprintf("Each key of %s must be a name, like %s.", attr.Name, example)))
			continue
		}
		if v.IsNull() || v.Type() != cty.String {
			diags = append(diags, valueError(attr, kv.Value.Range(), "Invalid "+attr.Name,
				fmt.Sprintf("Each value of %s must be a string, like %s.", attr.Name, example)))
			continue
		}
		keys = append(keys, item{Value: k.AsString(), Range: kv.Key.Range()})
		values = append(values, item{Value: v.AsString(), Range: kv.Value.Range()})
	}
	return keys, values, diags
}

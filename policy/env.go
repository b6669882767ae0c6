package policy

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/airlockhq/airlock/internal/hclx"
)

// envSchema is the body of the env { … } block.
var envSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "pass"},
		{Name: "set"},
	},
}

func decodeEnv(d *decoder, b *hcl.Block) hcl.Diagnostics {
	env, diags := decodeEnvBlock(d, b)
	d.p.Env = env
	return diags
}

func decodeEnvBlock(d *decoder, b *hcl.Block) (Env, hcl.Diagnostics) {
	content, diags := hclx.Content(b.Body, envSchema, "an env block")
	env := Env{
		Set:     map[string]string{},
		Origin:  d.origin(b.DefRange),
		Origins: map[string]Origin{},
	}
	if a := content.Attributes["pass"]; a != nil {
		items, ldiags := stringListAttr(a, `["LANG", "TZ"]`)
		diags = append(diags, ldiags...)
		for _, it := range items {
			if err := checkEnvName(it.Value); err != nil {
				diags = append(diags, valueError(a, it.Range, "Invalid variable name", sentence(err.Error())))
				continue
			}
			if prev, dup := env.Origins[it.Value]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Variable listed twice",
					Detail:   fmt.Sprintf("%s is already in pass at %s.", it.Value, originText(prev)),
					Subject:  it.Range.Ptr(),
				})
				continue
			}
			env.Pass = append(env.Pass, it.Value)
			env.Origins[it.Value] = d.origin(it.Range)
		}
	}
	if a := content.Attributes["set"]; a != nil {
		keys, values, mdiags := stringMapAttr(a, `{ LANG = "C.UTF-8" }`)
		diags = append(diags, mdiags...)
		for i, k := range keys {
			if err := checkEnvName(k.Value); err != nil {
				diags = append(diags, valueError(a, k.Range, "Invalid variable name", sentence(err.Error())))
				continue
			}
			if _, dup := env.Set[k.Value]; dup {
				diags = append(diags, valueError(a, k.Range, "Variable set twice",
					fmt.Sprintf("%s is already set at %s.", k.Value, originText(env.Origins[k.Value]))))
				continue
			}
			if prev, dup := env.Origins[k.Value]; dup {
				diags = append(diags, valueError(a, k.Range, "Variable both passed and set",
					fmt.Sprintf("%s is passed from the host at %s and set here; keep one of the two.", k.Value, originText(prev))))
				continue
			}
			env.Set[k.Value] = values[i].Value
			env.Origins[k.Value] = d.origin(k.Range)
		}
	}
	return env, diags
}

// finishEnv gives a policy without an env block an empty environment.
func finishEnv(d *decoder) hcl.Diagnostics {
	if _, ok := d.once["env"]; !ok {
		d.p.Env = Env{
			Set:     map[string]string{},
			Origin:  Origin{Layer: LayerBuiltin},
			Origins: map[string]Origin{},
		}
	}
	return nil
}

// checkEnvName accepts names made of letters, digits and underscores, not
// starting with a digit: what every shell accepts.
func checkEnvName(name string) error {
	if name == "" {
		return fmt.Errorf("a variable name may not be empty")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return fmt.Errorf("%q is not a variable name: use letters, digits and underscores, not starting with a digit", name)
		}
	}
	return nil
}

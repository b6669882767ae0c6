//go:build !wasmtime

package runtime

import (
	"context"
	"errors"
)

const wasmtimeBuilt = false

// ErrNoWasmtime is what New returns for Config.Engine "wasmtime" in a
// binary built without the wasmtime engine.
var ErrNoWasmtime = errors.New("this airlock was built without the wasmtime engine; rebuild with -tags wasmtime (needs cgo)")

func newWasmtime(context.Context, Config, *codeCache) (backend, error) { return nil, ErrNoWasmtime }

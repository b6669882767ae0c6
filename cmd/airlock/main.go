// Command airlock runs agent tools compiled to WebAssembly (WASI preview 1)
// inside a sandbox bounded by an HCL policy.
//
// See `airlock help` and the README for the commands and exit statuses.
package main

import (
	"os"

	// Hands `airlock run` to a warm worker, when one is up, before the
	// rest of airlock starts (docs/warm.md).
	_ "github.com/airlockhq/airlock/internal/warm/handoff"
)

func main() {
	os.Exit(Main(os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
}

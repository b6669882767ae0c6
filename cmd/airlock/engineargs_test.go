package main

import "github.com/airlockhq/airlock/runtime"

// Attack tests that run on every engine of the binary (wazero, and
// wasmtime in a test binary built with -tags wasmtime) loop over
// runtime.Engines() and pass each to airlock run with withEngine.

// withEngine returns the command line args (which starts with "run") with
// --engine engine after "run".
func withEngine(engine string, args []string) []string {
	out := append([]string{args[0], "--engine", engine}, args[1:]...)
	return out
}

// engines lists the engines of the airlock under test.
func engines() []string { return runtime.Engines() }

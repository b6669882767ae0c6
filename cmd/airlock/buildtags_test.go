//go:build !wasmtime

package main

// cliBuildFlags are the go build flags the airlock binary under test is
// built with: the tags this test binary was built with, so that
// `go test -tags wasmtime` tests an airlock that has the wasmtime engine.
var cliBuildFlags []string

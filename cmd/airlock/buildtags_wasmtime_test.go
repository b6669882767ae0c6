//go:build wasmtime

package main

// cliBuildFlags: see buildtags_test.go.
var cliBuildFlags = []string{"-tags=wasmtime"}

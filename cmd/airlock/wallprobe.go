//go:build !airlock_wallprobe

package main

import "github.com/airlockhq/airlock/internal/host"

// wallProbeFuncs is nil in airlock itself. A build with the tag
// airlock_wallprobe, for the second wall's tests only, adds host functions
// that reach past airlock's filesystem layer and network policy
// (wallprobe_tagged.go).
func wallProbeFuncs() []host.Func { return nil }

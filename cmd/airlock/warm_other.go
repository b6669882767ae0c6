//go:build !linux

package main

import "context"

const warmUsage = "usage: airlock warm start [--workers N] [--idle DURATION] | stop | status"

// warmCmd says that the warm server is Linux's only (docs/warm.md).
func warmCmd(ctx context.Context, args []string, std stdio) error {
	return fail(ExitUsage, "airlock warm runs on Linux only; elsewhere every run starts cold")
}

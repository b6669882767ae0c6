// Package handoff gives `airlock run` to the user's warm worker before the
// rest of airlock starts (internal/warm, docs/warm.md). cmd/airlock imports
// it for its init function alone.
//
// Go starts a package after every package it imports, and, of those ready
// to start, the one whose import path sorts first. This package imports
// only internal/warm and the standard library, and its path sorts before
// every heavy dependency's (github.com/charmbracelet, github.com/hashicorp,
// go.opentelemetry.io, google.golang.org, …), so a handed-off run pays for
// none of their initialisation (TestHandoffStartsBeforeHeavyPackages).
package handoff

import (
	"os"

	"github.com/airlockhq/airlock/internal/warm"
)

func init() {
	if warm.Handoff(os.Args[1:], os.Exit) {
		os.Exit(125) // never reached: Handoff ended the process with the run's status
	}
}

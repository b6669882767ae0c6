// Package archtest holds tests of the project's shape, and nothing else: the
// package arrows point downwards, cmd → mcp → runtime → internal/host → policy
// (RATIONALE.md, "Package arrows"), the decision vocabulary links no engine,
// every RATIONALE.md section that is cited exists, every package has a
// package comment, and the README's layout table names every folder.
package archtest

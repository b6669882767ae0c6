// Package decision owns the vocabulary of airlock's decisions, shared by
// every package that asks, answers, records or reads them: the question the
// host puts before it acts for a tool (Request), the capability it is about
// (Kind), who may answer it (Asker, Reply, Source) and how a question put
// to a person ended (Ended), the record every answer leaves (Decision,
// Recorder), and what a run used (Use, for learn mode).
//
// It is a leaf: it imports nothing of the project but the policy language,
// and no engine, so that the approvals' user interfaces, telemetry and
// learn mode can speak it without linking the WebAssembly runtime
// (RATIONALE.md, "Why does the decision vocabulary live in a package of its
// own?"). The gate that makes the decisions is the host functions' Gate
// (internal/host), which a run's hostfuncs.Run holds.
package decision

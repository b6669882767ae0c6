// Package warm hands an `airlock run` to a process of the same user that
// started ahead of time (docs/warm.md).
//
// A cold `airlock run` spends most of its time before the tool runs: the Go
// runtime and every package start, and wazero reads, checks and maps the
// compiled module. `airlock warm start` leaves a small server (Serve) that
// keeps one worker process (Work) started and prepared: the modules of the
// last runs are compiled into its engine. Handoff, called as the airlock
// program starts, before any heavy package initialises, gives the worker the
// whole invocation: the arguments, the environment, the working directory
// and the standard streams themselves (as file descriptors), the terminal,
// the umask, the resource limits and the priority. The worker then runs
// exactly the code a cold `airlock run` runs, in a process of its own that
// ends with the run, and sends back the exit status. Signals the client gets
// are passed on to the worker.
//
// The worker must hold no more power than the client would have had. The
// server refuses (and the client then runs cold) a client that is another
// user, another airlock program, in other namespaces, under another
// security label, with no_new_privs, a seccomp filter or other capabilities,
// or that cannot read the server's own /proc entry, which is how a client
// inside a Landlock domain shows (Check).
//
// The package imports nothing of airlock and little of the standard
// library: Handoff runs in an init function (package handoff), and Go
// starts a package once every package it imports, directly or not, has
// started, choosing among those ready the one whose path sorts first. So
// it does not import strings (text.go has what it needs) nor anything
// that imports reflect (encoding/binary does): with either, it would be
// ready only after crypto/…, compress/…, debug/dwarf, encoding/gob and
// flag, which sort first and would all start before the handoff (1.5 ms
// of a client's 11 here; TestHandoffStartsBeforeHeavyPackages).
package warm

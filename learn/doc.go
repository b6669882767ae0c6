// Package learn writes the narrowest policy that lets a tool do again what
// it did in a run: airlock run --learn FILE and airlock mcp --learn DIR
// (docs/learn.md).
//
// A run is watched through the gate's observer (decision.Use, given by
// run.Gate.Observe of a hostfuncs.Run): every path the tool named and
// every operation the policy filesystem let it do, every connection the
// network let it make. A Recorder keeps them; Learn turns
// them, with the run's decisions and what it measured, into Needs: mounts
// narrowed to the folders it used (read-only where it only read), network
// rules naming the scheme, host and port it connected to, the environment
// its policy gave it, limits a margin above what it used. Merge writes
// Needs into a policy file through hclwrite, as a new file or into an
// existing one whose every line, edit and comment it keeps.
//
// What is never learned: a denied request (it becomes a comment); a write
// to a protected path (the built-in list holds in every learned mount,
// whatever the ceiling said); anything at or below airlock's own state; a
// folder reached through a symbolic link, a hidden one, or one whose name
// could mislead a reader. Learning never reaches past the policy the run
// had: every grant is a part of one the run held.
//
// The package decides nothing at run time and runs nothing; it reads the
// host's filesystem (to narrow mounts to real directories) and the files it
// is given.
package learn

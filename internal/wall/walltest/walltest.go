// Package walltest helps tests of the second wall (package wall): it runs a
// program on which the kernel appears to have no Landlock, which is how
// tests prove that a policy requiring the wall refuses to run without it.
// It is for tests only.
package walltest

// EnvExec names the environment variable that asks a test binary, re-run by
// its own test, to become the program in ExecArgs (see Main).
const EnvExec = "AIRLOCK_WALLTEST_EXEC_WITHOUT_LANDLOCK"

# The policy airlock uses when none is given: the current directory as /work,
# writable except for the built-in protected paths, the built-in hidden paths
# unreadable, no host environment variable, the default limits, no network.
mount "/work" {
  host   = "."
  access = "write"
}
# --mount ./src:/work replaces this mount; other --mount flags add to it.

# The tool's environment is empty, PWD included: a Go tool takes /work, the
# first mount, as its working directory.
env {
  pass = []
}

limits {}

# The policy airlock uses when none is given: the current directory as /work,
# writable except for the built-in protected paths, the built-in hidden paths
# unreadable, no host environment variable, the default limits, no network.
# The tool's environment is empty (no PWD either): a Go tool takes /work, the
# first mount, as its working directory. --mount ./src:/work replaces this
# mount; other --mount flags add to it.
mount "/work" {
  host   = "."
  access = "write"
}

env {
  pass = []
}

limits {}

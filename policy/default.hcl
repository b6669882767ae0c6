# The policy airlock uses when none is given: the current directory as /work,
# writable except for the built-in protected paths, the built-in hidden paths
# unreadable, no host environment variable, the default limits, no network.
mount "/work" {
  host   = "."
  access = "write"
}

env {
  pass = []
}

limits {}

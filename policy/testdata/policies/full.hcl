# Every attribute of the language, each set to something other than its default.
mount "/work" {
  host    = "."
  access  = "write"
  protect = ["build/out", "*.lock"]
  hide    = ["secrets/**"]
}

mount "/ref" {
  host = ".."
}

env {
  pass = ["LANG", "TZ"]
  set  = { FOO = "bar" }
}

limits {
  memory     = "1GiB"
  timeout    = "30s"
  output     = "1MB"
  open_files = 64
}

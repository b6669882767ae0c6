mount "work" {
  host   = "./does-not-exist"
  access = "rw"
}

mount "/data" {
  protect = ["/etc/passwd", "../up", ""]
}

mount "/data" {}

env {
  pass = ["LANG", "not-a-name"]
}

limits {
  memory  = "lots"
  timeout = "-1s"
}

mount "/work" {
  acess = "write"
  hide  = ["*.pem"]
}

enviroment {
  pass = ["LANG"]
}

limits {
  memroy = "1GiB"
}

mount "/work" {
  access           = "write"
  protect_defaults = false
  protect          = [".git"]
}

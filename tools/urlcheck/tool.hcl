# urlcheck, a C tool (urlcheck.c, built by `task urlcheck`): HTTP HEAD through
# airlock's host HTTP path. The digest is the committed urlcheck.wasm's; the
# rebuild task prints the new one to pin here.
tool "urlcheck" {
  description  = "Check that URLs answer: HTTP HEAD each one and print its status"
  module       = "urlcheck.wasm"
  digest       = "sha256:75b29a69cd1911128b06065ab7908851cd6a5d73e4d2df05d1ba1eecbe1a6c18"
  input        = "argv"
  argv         = ["{urls}"]
  output       = "text"
  input_schema = jsonencode({ type = "object", properties = { urls = { type = "array", items = { type = "string" }, description = "http:// or https:// URLs" } }, required = ["urls"] })
  annotations {
    title      = "Check URLs"
    read_only  = true
    idempotent = true
    open_world = true
  }
}

# The manifest of the sample tool wc (docs/tools.md); see tools/grep/tool.hcl.
# The module is wc.wasm beside this file, prebuilt from this folder's Go
# source and pinned below, so that no Go toolchain is needed to serve it.
# After changing the source, `task tools` rebuilds every sample module and
# pins the new digests (tools/internal/prebuild; its test checks they match).
tool "wc" {
  description  = "Count the lines, words and bytes of files (all three unless some are chosen)."
  module       = "wc.wasm"
  digest       = "sha256:2b5d46cdc7a736ef4a726bc1bdcd1e2295f63449ee4cfda32358739b132abf96"
  argv         = ["-l={lines}", "-w={words}", "-c={bytes}", "--", "{files}"]
  input_schema = jsonencode({
    type = "object"
    properties = {
      files = { type = "array", items = { type = "string" }, minItems = 1 }
      lines = { type = "boolean", default = false }
      words = { type = "boolean", default = false }
      bytes = { type = "boolean", default = false }
    }
    required = ["files"]
  })
  annotations {
    title       = "Count lines, words and bytes"
    read_only   = true
    destructive = false
    idempotent  = true
    open_world  = false
  }
}

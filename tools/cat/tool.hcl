# The manifest of the sample tool cat (docs/tools.md); see tools/grep/tool.hcl.
# The module is cat.wasm beside this file, prebuilt from this folder's Go
# source and pinned below, so that no Go toolchain is needed to serve it.
# After changing the source, `task tools` rebuilds every sample module and
# pins the new digests (tools/internal/prebuild; its test checks they match).
tool "cat" {
  description  = "Print files exactly as stored; with number, each line is prefixed with its number."
  module       = "cat.wasm"
  digest       = "sha256:ea7a4b0a7c5103f2b665e9b60109f6becbe8023fbc45d06d77f7ede9f2624aea"
  argv         = ["-n={number}", "--", "{files}"]
  input_schema = jsonencode({
    type = "object"
    properties = {
      files  = { type = "array", items = { type = "string" }, minItems = 1, description = "files to print, e.g. /work/go.mod" }
      number = { type = "boolean", default = false }
    }
    required = ["files"]
  })
  annotations {
    title       = "Print files"
    read_only   = true
    destructive = false
    idempotent  = true
    open_world  = false
  }
}

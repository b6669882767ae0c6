# The manifest of the sample tool write (docs/tools.md), for `airlock mcp
# --tools ./tools` and `airlock run tools/write`. The new content travels as
# the tool's stdin (input = "stdin:content"); the path and switches through
# argv.
# The module is write.wasm beside this file, prebuilt from this folder's Go
# source and pinned below, so that no Go toolchain is needed to serve it.
# After changing the source, `task tools` rebuilds every sample module and
# pins the new digests (tools/internal/prebuild; its test checks they match).
tool "write" {
  description  = "Write a file atomically (a temporary file renamed over the old one), or append to it. Paths are guest paths such as /work/src/main.go; protected paths (.git, .airlock, …) are refused."
  module       = "write.wasm"
  digest       = "sha256:d6dc7aeac62f157b693e27df53b88191845910931f828e5a72da2881b244bdcd"
  input        = "stdin:content"
  argv         = ["--append={append}", "--mkdir={mkdir}", "--", "{path}"]
  input_schema = jsonencode({
    type = "object"
    properties = {
      path    = { type = "string", description = "the file to write, e.g. /work/notes.md" }
      content = { type = "string", description = "the new content (or what to append)" }
      append  = { type = "boolean", default = false, description = "append instead of replacing" }
      mkdir   = { type = "boolean", default = false, description = "create missing parent folders" }
    }
    required = ["path", "content"]
  })
  annotations {
    title       = "Write a file"
    read_only   = false
    destructive = true
    idempotent  = true
    open_world  = false
  }
}

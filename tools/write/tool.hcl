# The manifest of the sample tool write (docs/tools.md), for `airlock mcp
# --tools ./tools` and `airlock run tools/write`. The new content travels as
# the tool's stdin (input = "stdin:content"); the path and switches through
# argv. The module is this folder's Go source, built when the tool loads, so
# no digest is pinned here.
tool "write" {
  description  = "Write a file atomically (a temporary file renamed over the old one), or append to it. Paths are guest paths such as /work/src/main.go; protected paths (.git, .airlock, …) are refused."
  module       = "."
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
}

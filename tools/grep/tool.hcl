# The manifest of the sample tool grep (docs/tools.md), for `airlock mcp
# --tools ./tools` and `airlock run tools/grep`.
# The module is grep.wasm beside this file, prebuilt from this folder's Go
# source and pinned below, so that no Go toolchain is needed to serve it.
# After changing the source, `task tools` rebuilds every sample module and
# pins the new digests (tools/internal/prebuild; its test checks they match).
tool "grep" {
  description  = "Search files for lines matching an RE2 regular expression. Directories are searched recursively (.git and binary files are skipped). Prints path:line:text; exit status 1 means no line matched."
  module       = "grep.wasm"
  digest       = "sha256:bcc9b166cd53a157e01a478f91384e37ca4b2a23708bea4aff141c0d5acb0bba"
  argv         = ["-n", "-i={ignore_case}", "-F={fixed}", "--max-count={max_count}", "--", "{pattern}", "{paths}"]
  input_schema = jsonencode({
    type = "object"
    properties = {
      pattern     = { type = "string", description = "RE2 regular expression (or a fixed string with fixed = true)" }
      paths       = { type = "array", items = { type = "string" }, default = ["."], description = "files or directories to search, e.g. /work/src" }
      ignore_case = { type = "boolean", default = false }
      fixed       = { type = "boolean", default = false, description = "pattern is a fixed string" }
      max_count   = { type = "integer", minimum = 0, default = 0, description = "stop reading a file after this many matching lines (0: no limit)" }
    }
    required = ["pattern"]
  })
  annotations {
    title       = "Search files"
    read_only   = true
    destructive = false
    idempotent  = true
    open_world  = false
  }
}

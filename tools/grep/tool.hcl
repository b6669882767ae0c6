# The manifest of the sample tool grep (docs/tools.md), for `airlock mcp
# --tools ./tools` and `airlock run tools/grep`. The module is this folder's
# Go source, built for wasip1 when the tool loads; its digest depends on the
# Go toolchain, so none is pinned here (pin a built .wasm in your own tools).
tool "grep" {
  description  = "Search files for lines matching an RE2 regular expression. Directories are searched recursively (.git and binary files are skipped). Prints path:line:text; exit status 1 means no line matched."
  module       = "."
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
}

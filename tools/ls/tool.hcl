# The manifest of the sample tool ls (docs/tools.md); see tools/grep/tool.hcl.
tool "ls" {
  description  = "List directories, one entry per line, sorted by name; directories end in /. With long: mode, size and name. With recursive: every entry below, as a path relative to it (.git is never entered)."
  module       = "."
  argv         = ["-a={all}", "-l={long}", "-R={recursive}", "--max={max}", "--", "{paths}"]
  input_schema = jsonencode({
    type = "object"
    properties = {
      paths     = { type = "array", items = { type = "string" }, default = ["."], description = "directories (or files) to list, e.g. /work/src" }
      all       = { type = "boolean", default = false, description = "include names beginning with ." }
      long      = { type = "boolean", default = false }
      recursive = { type = "boolean", default = false }
      max       = { type = "integer", minimum = 0, default = 1000, description = "at most this many entries per path (0: no limit)" }
    }
  })
}

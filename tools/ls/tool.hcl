# The manifest of the sample tool ls (docs/tools.md); see tools/grep/tool.hcl.
# The module is ls.wasm beside this file, prebuilt from this folder's Go
# source and pinned below, so that no Go toolchain is needed to serve it.
# After changing the source, `task tools` rebuilds every sample module and
# pins the new digests (tools/internal/prebuild; its test checks they match).
tool "ls" {
  description  = "List directories, one entry per line, sorted by name; directories end in /. With long: mode, size and name. With recursive: every entry below, as a path relative to it (.git is never entered)."
  module       = "ls.wasm"
  digest       = "sha256:bfe5c40cba3ed707d7449d240f13d82cebc40f27734876e04a8a5cc4b50dcdd0"
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
  annotations {
    title       = "List folders"
    read_only   = true
    destructive = false
    idempotent  = true
    open_world  = false
  }
}

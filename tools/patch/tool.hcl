# The manifest of the sample tool patch (docs/tools.md), for `airlock mcp
# --tools ./tools` and `airlock run tools/patch`. The edit travels as the
# tool's stdin (input = "stdin:edit"): SEARCH/REPLACE blocks or a unified
# diff of one file.
# The module is patch.wasm beside this file, prebuilt from this folder's Go
# source and pinned below, so that no Go toolchain is needed to serve it.
# After changing the source, `task tools` rebuilds every sample module and
# pins the new digests (tools/internal/prebuild; its test checks they match).
tool "patch" {
  description  = "Edit a file with SEARCH/REPLACE blocks (each SEARCH must match exactly once) or a unified diff, all or nothing, written atomically. Fails with a hint when a block does not match."
  module       = "patch.wasm"
  digest       = "sha256:f3afa1f8c9eb62779178d5e4efb1ef6182cf752dcb226029ee5ae91c18364386"
  input        = "stdin:edit"
  argv         = ["--dry-run={dry_run}", "--", "{path}"]
  input_schema = jsonencode({
    type = "object"
    properties = {
      path    = { type = "string", description = "the file to edit, e.g. /work/src/main.go" }
      edit    = { type = "string", description = "<<<<<<< SEARCH\nold text\n=======\nnew text\n>>>>>>> REPLACE (one or more blocks), or a unified diff" }
      dry_run = { type = "boolean", default = false, description = "check that the edit applies without writing" }
    }
    required = ["path", "edit"]
  })
  annotations {
    title       = "Edit a file"
    read_only   = false
    destructive = true
    idempotent  = false
    open_world  = false
  }
}

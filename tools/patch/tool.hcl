# The manifest of the sample tool patch (docs/tools.md), for `airlock mcp
# --tools ./tools` and `airlock run tools/patch`. The edit travels as the
# tool's stdin (input = "stdin:edit"): SEARCH/REPLACE blocks or a unified
# diff of one file. No digest is pinned: the module is this folder's source.
tool "patch" {
  description  = "Edit a file with SEARCH/REPLACE blocks (each SEARCH must match exactly once) or a unified diff, all or nothing, written atomically. Fails with a hint when a block does not match."
  module       = "."
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
}

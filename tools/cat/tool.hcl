# The manifest of the sample tool cat (docs/tools.md); see tools/grep/tool.hcl.
tool "cat" {
  description  = "Print files exactly as stored; with number, each line is prefixed with its number."
  module       = "."
  argv         = ["-n={number}", "--", "{files}"]
  input_schema = jsonencode({
    type = "object"
    properties = {
      files  = { type = "array", items = { type = "string" }, minItems = 1, description = "files to print, e.g. /work/go.mod" }
      number = { type = "boolean", default = false }
    }
    required = ["files"]
  })
}

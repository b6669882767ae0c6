# The manifest of the sample tool wc (docs/tools.md); see tools/grep/tool.hcl.
tool "wc" {
  description  = "Count the lines, words and bytes of files (all three unless some are chosen)."
  module       = "."
  argv         = ["-l={lines}", "-w={words}", "-c={bytes}", "--", "{files}"]
  input_schema = jsonencode({
    type = "object"
    properties = {
      files = { type = "array", items = { type = "string" }, minItems = 1 }
      lines = { type = "boolean", default = false }
      words = { type = "boolean", default = false }
      bytes = { type = "boolean", default = false }
    }
    required = ["files"]
  })
}

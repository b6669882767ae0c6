# The manifest of the sample tool fetch (docs/tools.md), for `airlock mcp
# --tools ./tools` and `airlock run tools/fetch`: one HTTP GET through
# airlock's network host functions, so the policy's network rules decide
# where it may go (the default policy allows nowhere) and its credentials
# are added by the host. Other methods and headers: airlock run tools/fetch
# -- -X POST -H 'Content-Type: …' -d @- URL.
# The module is fetch.wasm beside this file, prebuilt from this folder's Go
# source and pinned below, so that no Go toolchain is needed to serve it.
# After changing the source, `task tools` rebuilds every sample module and
# pins the new digests (tools/internal/prebuild; its test checks they match).
tool "fetch" {
  description  = "Fetch a URL with HTTP GET and print the status line, the headers, a blank line and the body (cut at max bytes). Only hosts the policy's network rules allow are reachable. Exit status 1 means a status of 400 or more."
  module       = "fetch.wasm"
  digest       = "sha256:c31dfbc6c3c19406e217f3fa9ae219b562bd8239dab372e1f4b9b11774f1646b"
  argv         = ["--head={head}", "--max={max}", "--timeout={timeout}", "--", "{url}"]
  input_schema = jsonencode({
    type = "object"
    properties = {
      url     = { type = "string", description = "the http:// or https:// URL to fetch" }
      head    = { type = "boolean", default = false, description = "print the status line and headers only" }
      max     = { type = "integer", minimum = 0, default = 1048576, description = "print at most this many bytes of the body (0: all)" }
      timeout = { type = "string", default = "30s", description = "give up after this long, e.g. 10s" }
    }
    required = ["url"]
  })
  annotations {
    title       = "Fetch a URL"
    read_only   = true
    destructive = false
    idempotent  = true
    open_world  = true
  }
}

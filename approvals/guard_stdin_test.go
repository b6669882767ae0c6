package approvals

import (
	"os"
	"testing"
	"time"
)

// A tool's read of the terminal that began before a prompt opened must not
// take the keys typed for the prompt.
func TestGuardedReadLeavesPromptInput(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	g := NewGuard(1 << 10)
	r := g.Reader(pr)

	got := make(chan string, 1)
	go func() { // the tool, already reading
		b := make([]byte, 64)
		n, _ := r.Read(b)
		got <- string(b[:n])
	}()
	time.Sleep(100 * time.Millisecond) // the read is under way

	release := g.Hold() // a prompt opens
	pw.Write([]byte("y\n"))
	time.Sleep(200 * time.Millisecond) // the tool's read had every chance to take it
	b := make([]byte, 64)
	pr.SetReadDeadline(time.Now().Add(time.Second))
	n, err := pr.Read(b) // the prompt reads its answer
	if err != nil || string(b[:n]) != "y\n" {
		t.Fatalf("the prompt read %q, %v: the tool took the answer", b[:n], err)
	}
	release()

	pw.Write([]byte("tool input\n"))
	select {
	case s := <-got:
		if s != "tool input\n" {
			t.Fatalf("the tool read %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the tool's read never finished after the prompt closed")
	}
}

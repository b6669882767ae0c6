//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/airlockhq/airlock/internal/warm"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

const warmUsage = "usage: airlock warm start [--workers N] [--idle DURATION] | stop | status"

const warmSynopsis = warmUsage + `
Keep a worker process started, with the modules of your last runs compiled,
so that airlock run hands its run over instead of starting cold: the same
run, the same policy and walls, in a process of its own, in about a tenth of
the time. start leaves a server in the background (serve runs it in the
foreground, for a service manager); stop ends it; status says what it does.
AIRLOCK_WARM=off makes one run start cold. docs/warm.md.`

// warmCmd starts, stops and shows the user's warm server (internal/warm).
func warmCmd(ctx context.Context, args []string, std stdio) error {
	subs := []string{"start", "serve", "stop", "status"}
	switch {
	case len(args) == 0:
		fmt.Fprintln(std.err, warmUsage)
		return exitWith(ExitUsage)
	case wantsHelp(args[:1]):
		printHelp(std.out, warmSynopsis, nil)
		return nil
	case args[0] == "worker": // started by the server, not by people
		return exitWith(warmWorker(ctx))
	case !slices.Contains(subs, args[0]):
		return unknownWord("command", args[0], "airlock warm", subs)
	}
	sock := warm.SocketPath()
	fs := newFlags("warm "+args[0], std.err)
	workers, idle := 1, 30*time.Minute
	if args[0] == "start" || args[0] == "serve" {
		fs.IntVar(&workers, "workers", 1, "workers kept started and prepared")
		fs.DurationVar(&idle, "idle", 30*time.Minute, "stop after this long without a run (0: never)")
	}
	if err := parseFlags(fs, args[1:], std, warmSynopsis); err != nil {
		return err
	}
	if fs.NArg() > 0 || workers < 1 || workers > 16 || idle < 0 {
		return fail(ExitUsage, "%s", warmUsage)
	}
	switch args[0] {
	case "status":
		st, err := warm.Ask(sock, false)
		if err != nil {
			return fail(1, "no answer from a warm server on %s (%v); airlock warm start starts one", sock, err)
		}
		fmt.Fprint(std.out, st)
		return nil
	case "stop":
		if _, err := warm.Ask(sock, true); err != nil {
			return fail(1, "no answer from a warm server on %s (%v)", sock, err)
		}
		say(std.err, "warm server on %s stopped", sock)
		return nil
	case "serve":
		return warmServe(ctx, sock, workers, idle, std)
	}
	return warmStart(sock, workers, idle, std)
}

// warmStart starts `airlock warm serve` in the background, its log beside
// its socket, and waits until it answers.
func warmStart(sock string, workers int, idle time.Duration, std stdio) error {
	if _, err := warm.Ask(sock, false); err == nil {
		say(std.err, "a warm server already listens on %s", sock)
		return nil
	}
	dir := filepath.Dir(sock)
	if sock == filepath.Join(warm.SocketDir(), "warm.sock") {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fail(ExitUsage, "making %s: %v", dir, err)
		}
	}
	logPath := filepath.Join(dir, "warm.log")
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fail(ExitUsage, "opening the warm server's log: %v", err)
	}
	defer log.Close()
	cmd := exec.Command("/proc/self/exe", "warm", "serve", "--workers", fmt.Sprint(workers), "--idle", idle.String())
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fail(ExitUsage, "starting the warm server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := warm.Ask(sock, false); err == nil {
			say(std.err, "warm server started (pid %d, socket %s, log %s); airlock warm stop ends it", cmd.Process.Pid, sock, logPath)
			return nil
		}
		select {
		case err := <-exited:
			return fail(ExitUsage, "the warm server stopped at once (%v); its log: %s", err, logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fail(ExitUsage, "the warm server did not answer within 10s; its log: %s", logPath)
}

// warmServe runs the server in this process. Its secret (warm.NonceEnv)
// must be in the environment the process started with, where only a
// process allowed to read its memory finds it: without one, it starts
// itself again with one.
func warmServe(ctx context.Context, sock string, workers int, idle time.Duration, std stdio) error {
	nonce := os.Getenv(warm.NonceEnv)
	if len(nonce) < 32 {
		b := make([]byte, 32)
		rand.Read(b)
		env := append(os.Environ(), warm.NonceEnv+"="+hex.EncodeToString(b))
		err := syscall.Exec("/proc/self/exe", append([]string{"airlock"}, os.Args[1:]...), env)
		return fail(ExitUsage, "starting the warm server: %v", err)
	}
	os.Unsetenv(warm.NonceEnv) // workers do not get it
	logf := func(line string) {
		fmt.Fprintf(std.err, "%s airlock warm: %s\n", time.Now().Format(time.RFC3339), line)
	}
	logf(fmt.Sprintf("serving on %s (pid %d)", sock, os.Getpid()))
	err := warm.Serve(ctx, warm.ServeConfig{Socket: sock, Workers: workers, Idle: idle, Nonce: nonce,
		Worker: []string{"/proc/self/exe", "warm", "worker"}, Log: logf})
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	logf("stopped")
	return nil
}

// warmWorker is one worker: it prepares the modules the server names and
// runs one request, as Main would have in the client, and returns its
// exit status.
func warmWorker(ctx context.Context) int {
	p := &warmPrep{done: map[warm.Hint]bool{}}
	return warm.Work(ctx, warm.WorkConfig{
		Prepare: p.prepare,
		Run: func(ctx context.Context, r *warm.Run) (int, []warm.Hint) {
			w := &warmRun{eng: p.take(), tty: r.TTY}
			r.Finally = w.finish
			code := Main(r.Args, stdio{in: r.Stdin, out: r.Stdout, err: r.Stderr, warm: w})
			return code, w.hints
		},
	})
}

// warmPrep is a worker's engine, made before any request, with the
// modules of recent runs compiled into it.
type warmPrep struct {
	mu    sync.Mutex // held while a module compiles
	eng   *runtime.Engine
	done  map[warm.Hint]bool
	taken bool
}

const maxPrepared = 8

func (p *warmPrep) prepare(ctx context.Context, hints []warm.Hint) {
	for _, h := range hints {
		p.mu.Lock()
		p.prepareOne(ctx, h)
		p.mu.Unlock()
	}
	// Never once the run began: a collection waits for every goroutine,
	// and a tool's code, which cannot be interrupted, would make it wait
	// forever (runtime.InterruptAbandon).
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.taken {
		policy.Default(os.TempDir()) // parses the embedded default once for the run (policy.Default)
		warmHeap()
	}
}

// warmHeap collects what preparing left: its pages, already touched, are
// what the run allocates from. A page's first touch costs microseconds on
// virtual machines (BenchmarkFirstTouch: 12 µs here); touching more of
// them ahead (8 and 32 MiB were tried) made no run faster and each worker
// 30–100 ms of CPU dearer.
func warmHeap() { goruntime.GC() }

func (p *warmPrep) prepareOne(ctx context.Context, h warm.Hint) {
	if p.taken || p.done[h] || len(p.done) >= maxPrepared {
		return
	}
	p.done[h] = true
	made := false
	if p.eng == nil {
		eng, err := runtime.New(ctx, runtime.Config{CacheDir: h.CacheDir, OneShot: true, Warn: func(string) {}})
		if err != nil {
			return
		}
		p.eng, made = eng, true
	}
	if dir, _ := p.eng.Hints(); dir != h.CacheDir {
		return // one cache per worker: the most recent run's
	}
	m, err := p.eng.Preload(h.Path, h.Size)
	if err != nil {
		if made {
			// Nothing compiled in it: closed now, its compile cache's
			// private folder goes too, which a worker that ends without a
			// run would otherwise leave behind (runtime's codeCache keeps
			// the one made as the cache opens for the first compile).
			p.eng.Close(ctx)
			p.eng = nil
		}
		return
	}
	p.eng.Precompile(ctx, m, h.Memory, runtime.Interrupt(h.Interrupt))
}

// take ends the preparing (after the module being compiled, if any) and
// returns the engine, nil if there is none.
func (p *warmPrep) take() *runtime.Engine {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.taken = true
	return p.eng
}

// threads.c: a wasi-threads guest for airlock's tests. It has no libc (the
// Debian wasi-libc is built without threads); it calls WASI and
// wasi.thread-spawn directly, shares its memory with its threads and
// counts with atomics. Build: task threads-guest (Taskfile.yml).
//
//   threads run N    N threads; each prints a line, reads in.txt and tries
//                    to overwrite victim.txt in the first mount (fd 3), then
//                    adds its number + 1 to a shared sum; the main thread
//                    tries victim.txt too, waits for all, prints the sum
//   threads spin [N] N threads (1 if not given) loop for ever; the main
//                    thread waits for ever
//   threads block    a thread waits for ever (memory.atomic.wait32); the
//                    main thread returns at once
//   threads flood N  tries to start N threads that all wait for a signal;
//                    prints how many started and the first refusal
//   threads exit K   a thread calls proc_exit(K); the main thread waits
//   threads trap     a thread traps (unreachable); the main thread waits
//   threads ask      a thread tries to overwrite victim.txt (a write the
//                    policy may ask about); the main thread returns 0.3 s
//                    after the thread started
//   threads grow N   N threads grow the shared memory a page at a time
//                    until it refuses; prints its final size in pages
#include <stdint.h>

#define WASI(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))

typedef struct { const void *buf; uint32_t len; } ciovec;
typedef struct { void *buf; uint32_t len; } iovec;

WASI(fd_write) uint16_t fd_write(uint32_t fd, const ciovec *iov, uint32_t n, uint32_t *written);
WASI(fd_read) uint16_t fd_read(uint32_t fd, const iovec *iov, uint32_t n, uint32_t *nread);
WASI(fd_close) uint16_t fd_close(uint32_t fd);
WASI(path_open) uint16_t path_open(uint32_t dirfd, uint32_t dirflags, const char *path, uint32_t len,
                                   uint16_t oflags, uint64_t base, uint64_t inheriting, uint16_t fdflags, uint32_t *fd);
WASI(args_sizes_get) uint16_t args_sizes_get(uint32_t *argc, uint32_t *size);
WASI(args_get) uint16_t args_get(char **argv, char *buf);
WASI(proc_exit) _Noreturn void proc_exit(uint32_t code);

__attribute__((import_module("wasi"), import_name("thread-spawn"))) int32_t thread_spawn(void *start_arg);

#define MAXT 128
#define STACK 4096
#define RIGHT_FD_READ (1ull << 1)
#define RIGHT_FD_WRITE (1ull << 6)
#define O_TRUNC 8

// One per thread: wasi_thread_start (start.s) reads stack_top first.
struct targ {
	uint32_t stack_top;
	uint32_t index;
};

static struct targ args[MAXT];
static _Alignas(16) char stacks[MAXT][STACK];
static uint32_t sum, finished, go_signal, forever, asking, grown;
static int mode;

static uint32_t slen(const char *s) {
	uint32_t n = 0;
	while (s[n])
		n++;
	return n;
}

static int eq(const char *a, const char *b) {
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static uint32_t atou(const char *s) {
	uint32_t n = 0;
	while (*s >= '0' && *s <= '9')
		n = n * 10 + (uint32_t)(*s++ - '0');
	return n;
}

// line writes the pieces (strings, or numbers where the string is 0) as
// one line with one fd_write, so lines of threads do not mix.
struct piece {
	const char *s;
	int32_t n;
};

static void line(const struct piece *p, int count) {
	char buf[160];
	uint32_t at = 0;
	for (int i = 0; i < count; i++) {
		if (p[i].s) {
			for (const char *c = p[i].s; *c && at < sizeof buf - 1; c++)
				buf[at++] = *c;
			continue;
		}
		char d[12];
		int nd = 0;
		uint32_t v = p[i].n < 0 ? (uint32_t)(-p[i].n) : (uint32_t)p[i].n;
		if (p[i].n < 0 && at < sizeof buf - 1)
			buf[at++] = '-';
		do
			d[nd++] = (char)('0' + v % 10);
		while ((v /= 10) && nd < 12);
		while (nd > 0 && at < sizeof buf - 1)
			buf[at++] = d[--nd];
	}
	buf[at++] = '\n';
	ciovec iov = {buf, at};
	uint32_t w;
	fd_write(1, &iov, 1, &w);
}

#define S(x) {x, 0}
#define N(x) {0, (int32_t)(x)}

// tryFiles reads in.txt and tries to overwrite victim.txt in the first
// mount, and prints what happened, as "who".
static void tryFiles(const char *who, int32_t n) {
	uint32_t fd;
	char buf[64];
	uint32_t got = 0;
	uint16_t e = path_open(3, 0, "in.txt", 6, 0, RIGHT_FD_READ, 0, 0, &fd);
	if (e == 0) {
		iovec iov = {buf, sizeof buf};
		fd_read(fd, &iov, 1, &got);
		fd_close(fd);
	}
	struct piece r[] = {S(who), n < 0 ? (struct piece)S("") : (struct piece)N(n), S(": read in.txt: errno "), N(e), S(", "), N(got), S(" bytes")};
	line(r, 7);
	e = path_open(3, 0, "victim.txt", 10, O_TRUNC, RIGHT_FD_WRITE, 0, 0, &fd);
	if (e == 0) {
		char msg[] = "overwritten by a thread\n";
		ciovec iov = {msg, sizeof msg - 1};
		uint32_t w;
		fd_write(fd, &iov, 1, &w);
		fd_close(fd);
	}
	struct piece w[] = {S(who), n < 0 ? (struct piece)S("") : (struct piece)N(n), S(": write victim.txt: errno "), N(e)};
	line(w, 4);
}

static void waitFor(uint32_t *at, uint32_t want) {
	for (;;) {
		uint32_t v = __atomic_load_n(at, __ATOMIC_SEQ_CST);
		if (v == want)
			return;
		__builtin_wasm_memory_atomic_wait32((int32_t *)at, (int32_t)v, -1);
	}
}

static void waitForever(void) {
	for (;;)
		__builtin_wasm_memory_atomic_wait32((int32_t *)&forever, 0, -1);
}

void thread_main(int32_t tid, struct targ *a) {
	switch (mode) {
	case 'r': {
		struct piece p[] = {S("thread "), N(a->index), S(" hello, tid "), N(tid)};
		line(p, 4);
		tryFiles("thread ", (int32_t)a->index);
		__atomic_fetch_add(&sum, a->index + 1, __ATOMIC_SEQ_CST);
		break;
	}
	case 's':
		for (volatile uint32_t i = 0;; i++)
			;
	case 'b':
	case 'f':
		if (mode == 'b')
			waitForever();
		waitFor(&go_signal, 1);
		break;
	case 'a':
		__atomic_store_n(&asking, 1, __ATOMIC_SEQ_CST);
		__builtin_wasm_memory_atomic_notify((int32_t *)&asking, -1);
		tryFiles("thread ", (int32_t)a->index);
		break;
	case 'g':
		while (__builtin_wasm_memory_grow(0, 1) != (__SIZE_TYPE__)-1)
			__atomic_fetch_add(&grown, 1, __ATOMIC_SEQ_CST);
		break;
	case 'e':
		proc_exit(a->index);
	case 't':
		__builtin_trap();
	}
	__atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
	__builtin_wasm_memory_atomic_notify((int32_t *)&finished, -1);
}

static int32_t spawn(uint32_t i, uint32_t index) {
	args[i].stack_top = (uint32_t)(uintptr_t)&stacks[i][STACK];
	args[i].index = index;
	return thread_spawn(&args[i]);
}

void _start(void) {
	uint32_t argc, size;
	static char *argv[8];
	static char argbuf[256];
	if (args_sizes_get(&argc, &size) != 0 || argc > 8 || size > sizeof argbuf)
		proc_exit(2);
	args_get(argv, argbuf);
	const char *cmd = argc > 1 ? argv[1] : "";
	uint32_t n = argc > 2 ? atou(argv[2]) : 0;
	mode = cmd[0] == 'f' ? 'f' : cmd[0];

	if (eq(cmd, "run")) {
		if (n > MAXT)
			n = MAXT;
		for (uint32_t i = 0; i < n; i++) {
			int32_t tid = spawn(i, i);
			if (tid <= 0) {
				struct piece p[] = {S("spawn failed: "), N(tid)};
				line(p, 2);
				proc_exit(3);
			}
		}
		tryFiles("main", -1);
		waitFor(&finished, n);
		struct piece p[] = {S("sum="), N(__atomic_load_n(&sum, __ATOMIC_SEQ_CST)), S(" threads="), N(n)};
		line(p, 4);
		return;
	}
	if (eq(cmd, "spin") || eq(cmd, "exit") || eq(cmd, "trap")) {
		int32_t tid = spawn(0, n);
		for (uint32_t i = 1; mode == 's' && i < n && i < MAXT; i++)
			tid = spawn(i, i);
		struct piece p[] = {S("spawned "), N(tid)};
		line(p, 2);
		waitForever();
	}
	if (eq(cmd, "ask")) {
		spawn(0, 0);
		waitFor(&asking, 1);
		__builtin_wasm_memory_atomic_wait32((int32_t *)&forever, 0, 300000000);
		struct piece p[] = {S("returning while the thread asks")};
		line(p, 1);
		return;
	}
	if (eq(cmd, "grow")) {
		for (uint32_t i = 0; i < n && i < MAXT; i++)
			spawn(i, i);
		waitFor(&finished, n);
		struct piece p[] = {S("pages="), N(__builtin_wasm_memory_size(0)), S(" grown="), N(grown)};
		line(p, 4);
		return;
	}
	if (eq(cmd, "block")) {
		int32_t tid = spawn(0, 0);
		struct piece p[] = {S("spawned "), N(tid), S(", returning")};
		line(p, 3);
		return;
	}
	if (eq(cmd, "flood")) {
		uint32_t started = 0, refused = 0;
		int32_t first = 0;
		for (uint32_t i = 0; i < n && i < MAXT; i++) {
			int32_t tid = spawn(started, i);
			if (tid > 0) {
				started++;
			} else {
				refused++;
				if (first == 0)
					first = tid;
			}
		}
		__atomic_store_n(&go_signal, 1, __ATOMIC_SEQ_CST);
		__builtin_wasm_memory_atomic_notify((int32_t *)&go_signal, -1);
		waitFor(&finished, started);
		struct piece p[] = {S("started="), N(started), S(" refused="), N(refused), S(" first refusal="), N(first)};
		line(p, 6);
		return;
	}
	struct piece p[] = {S("usage: threads run N | spin [N] | block | flood N | exit K | trap | ask | grow N")};
	line(p, 1);
	proc_exit(2);
}

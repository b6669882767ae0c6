/*
 * fetch: a tiny HTTP/1.0 GET over airlock's raw TCP path, in C.
 *
 *   fetch HOST PORT [PATH]
 *
 * prints the whole response (status line, headers, body) to stdout. The
 * connection is the host's: it resolves HOST, checks the address against
 * the policy and dials it; this program only speaks HTTP over it.
 *
 * Built by `task c-example` (see Taskfile.yml):
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-all -I.. -o fetch.wasm fetch.c
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock_net.h"

static int fail(const char *what, uint32_t e) {
	fprintf(stderr, "fetch: %s: %s\n", what, strerror((int)e));
	return 1;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: fetch HOST PORT [PATH]\n");
		return 2;
	}
	const char *host = argv[1];
	long port = strtol(argv[2], NULL, 10);
	const char *path = argc > 3 ? argv[3] : "/";
	if (port < 1 || port > 65535) {
		fprintf(stderr, "fetch: bad port %s\n", argv[2]);
		return 2;
	}

	uint32_t h;
	uint32_t e = airlock_net_connect(host, (uint32_t)strlen(host), (uint32_t)port, AIRLOCK_SCHEME_TCP, 10000, &h);
	if (e != 0) {
		return fail("connect", e);
	}

	char req[1024];
	int len = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: airlock-c-example\r\n\r\n", path, host);
	if (len < 0 || (size_t)len >= sizeof req) {
		fprintf(stderr, "fetch: request too long\n");
		return 2;
	}
	for (uint32_t off = 0; off < (uint32_t)len;) {
		uint32_t n;
		e = airlock_net_write(h, req + off, (uint32_t)len - off, -1, &n);
		if (e != 0) {
			return fail("write", e);
		}
		off += n;
	}

	char buf[16384];
	for (;;) {
		uint32_t n;
		e = airlock_net_read(h, buf, sizeof buf, -1, &n);
		if (e != 0) {
			return fail("read", e);
		}
		if (n == 0) {
			break; /* the server closed: HTTP/1.0 ends the response so */
		}
		fwrite(buf, 1, n, stdout);
	}
	airlock_net_close(h);
	return 0;
}

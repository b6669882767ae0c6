/*
 * urlcheck: checks that URLs answer, with HTTP HEAD through airlock's host
 * HTTP path (module airlock_net_v1, tools/sdk/c/airlock_net.h). A C tool
 * built with Debian's clang, lld and wasi-libc.
 *
 *   urlcheck URL...
 *
 * prints "URL STATUS" for each URL that answered, or "URL error: WHY" on
 * stderr. The host resolves each name, checks the address against the
 * run's network policy, does TLS, and adds the credentials the policy
 * binds to the host; this program never sees them.
 *
 * Exit status: 0 every URL answered below 400; 1 some URL failed, was
 * denied or answered 400 or above; 2 usage.
 *
 * Rebuilt by `task urlcheck` (Taskfile.yml):
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-all -I../sdk/c -o urlcheck.wasm urlcheck.c
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock_net.h"

#define TIMEOUT_MS 15000

/* why says what an errno from the network ABI means here. */
static const char *why(uint32_t e) {
	switch (e) {
	case EACCES:
		return "denied by airlock's network policy";
	case ETIMEDOUT:
		return "timed out";
	case EINVAL:
		return "not a URL airlock can request (http:// or https://)";
	}
	return strerror((int)e);
}

/* check requests url with HEAD and returns its status, or 0 with *err set. */
static uint32_t check(const char *url, uint32_t *err) {
	char req[4096];
	int len = snprintf(req, sizeof req, "HEAD %s\r\nUser-Agent: airlock-urlcheck\r\n", url);
	if (len < 0 || (size_t)len >= sizeof req) {
		*err = ENAMETOOLONG;
		return 0;
	}
	uint32_t h;
	uint32_t e = airlock_net_http_request(req, (uint32_t)len, 0, TIMEOUT_MS, &h);
	if (e != 0) {
		*err = e;
		return 0;
	}
	uint32_t status = 0, need = 0, cap = 1024;
	char *headers = malloc(cap);
	for (;;) {
		e = airlock_net_http_response(h, -1, &status, headers, cap, &need);
		if (e != ENOBUFS || need <= cap) {
			break;
		}
		cap = need; /* the headers are larger: ask again with room for them */
		headers = realloc(headers, cap);
	}
	free(headers);
	airlock_net_http_close(h);
	if (e != 0) {
		*err = e;
		return 0;
	}
	return status;
}

int main(int argc, char **argv) {
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fprintf(argc < 2 ? stderr : stdout, "usage: urlcheck URL...\n");
		return argc < 2 ? 2 : 0;
	}
	int code = 0;
	for (int i = 1; i < argc; i++) {
		uint32_t err = 0;
		uint32_t status = check(argv[i], &err);
		if (status == 0) {
			fprintf(stderr, "%s error: %s\n", argv[i], why(err));
			code = 1;
			continue;
		}
		printf("%s %u\n", argv[i], status);
		if (status >= 400) {
			code = 1;
		}
	}
	return code;
}

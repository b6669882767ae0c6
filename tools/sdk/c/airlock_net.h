/*
 * airlock_net.h: airlock's network ABI, module "airlock_net_v1", for C
 * guests built with clang --target=wasm32-wasi and wasi-libc.
 *
 * The reference is docs/network-abi.md; this header declares the same
 * functions. Every function returns a WASI errno: 0 on success, otherwise
 * one of wasi-libc's E* values (EACCES: the policy denied the connection;
 * EAGAIN: nothing yet; EBADF: unknown handle; EFAULT: a pointer or length
 * outside memory; EINVAL: a malformed argument; ...). Nothing is ever
 * written through an output pointer on failure unless the function says so.
 *
 * Timeouts (timeout_ms) in the waiting functions: < 0 waits as long as it
 * takes (the run's wall-time limit still applies), 0 does not wait, > 0
 * waits at most that many milliseconds; when nothing arrived in that time
 * the result is EAGAIN. A C program with one thread simply passes -1.
 *
 * The host resolves names itself and checks the address it dials against
 * the run's policy: pass names, not addresses you resolved, so that rules
 * naming hosts apply.
 */
#ifndef AIRLOCK_NET_H
#define AIRLOCK_NET_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AIRLOCK_NET_IMPORT(name) \
	__attribute__((import_module("airlock_net_v1"), import_name(name)))

/* Scheme codes: what the guest says it will speak on a raw connection. */
#define AIRLOCK_SCHEME_TCP 0
#define AIRLOCK_SCHEME_HTTP 1
#define AIRLOCK_SCHEME_HTTPS 2

/* shutdown "how", as WASI's sdflags. */
#define AIRLOCK_SHUT_RD 1
#define AIRLOCK_SHUT_WR 2

/*
 * The addresses of name that the policy allows (or would ask about) for
 * scheme on port, as text, one per line. *out_len receives the length
 * needed; ENOBUFS if out_cap is smaller. EACCES if there is none.
 */
AIRLOCK_NET_IMPORT("resolve")
uint32_t airlock_net_resolve(const char *name, uint32_t name_len, uint32_t port, uint32_t scheme,
                             char *out, uint32_t out_cap, uint32_t *out_len);

/*
 * Connects to host (a name or an IP literal, without a port) on port. The
 * host resolves, checks each address against the policy, records the
 * decision, and dials exactly an address it checked. *handle receives the
 * connection. timeout_ms <= 0: the host's default bound (30 s).
 */
AIRLOCK_NET_IMPORT("connect")
uint32_t airlock_net_connect(const char *host, uint32_t host_len, uint32_t port, uint32_t scheme,
                             int32_t timeout_ms, uint32_t *handle);

/* Reads what has arrived, up to buf_len bytes; *n == 0 at end of stream. */
AIRLOCK_NET_IMPORT("read")
uint32_t airlock_net_read(uint32_t handle, void *buf, uint32_t buf_len, int32_t timeout_ms, uint32_t *n);

/* Writes up to buf_len bytes; *n says how many went. timeout_ms <= 0: no bound. */
AIRLOCK_NET_IMPORT("write")
uint32_t airlock_net_write(uint32_t handle, const void *buf, uint32_t buf_len, int32_t timeout_ms, uint32_t *n);

AIRLOCK_NET_IMPORT("shutdown")
uint32_t airlock_net_shutdown(uint32_t handle, uint32_t how);

AIRLOCK_NET_IMPORT("close")
uint32_t airlock_net_close(uint32_t handle);

/* The address the connection was made to, "ip:port" (ENOBUFS: see resolve). */
AIRLOCK_NET_IMPORT("peer_addr")
uint32_t airlock_net_peer_addr(uint32_t handle, char *out, uint32_t out_cap, uint32_t *out_len);

/*
 * Starts an HTTP request made by the host (which does TLS and adds the
 * policy's credentials). req is "METHOD URL\r\n" then "Name: value\r\n"
 * per header. body_len: 0 no body, > 0 exactly that many bytes to come
 * with http_body_write, -1 a body of unknown length (sent chunked). The
 * whole exchange is bounded by timeout_ms if > 0.
 */
AIRLOCK_NET_IMPORT("http_request")
uint32_t airlock_net_http_request(const char *req, uint32_t req_len, int64_t body_len, int32_t timeout_ms,
                                  uint32_t *handle);

AIRLOCK_NET_IMPORT("http_body_write")
uint32_t airlock_net_http_body_write(uint32_t handle, const void *buf, uint32_t buf_len, uint32_t *n);

AIRLOCK_NET_IMPORT("http_body_close")
uint32_t airlock_net_http_body_close(uint32_t handle);

/*
 * Waits for the response head: *status, and the headers as "Name: value\r\n"
 * lines. *headers_len receives the length needed; ENOBUFS if headers_cap is
 * smaller (call again with a larger buffer). EACCES if the policy denied.
 */
AIRLOCK_NET_IMPORT("http_response")
uint32_t airlock_net_http_response(uint32_t handle, int32_t timeout_ms, uint32_t *status, char *headers,
                                   uint32_t headers_cap, uint32_t *headers_len);

/* Reads the response body; *n == 0 at its end. EFBIG past the host's limit. */
AIRLOCK_NET_IMPORT("http_read")
uint32_t airlock_net_http_read(uint32_t handle, void *buf, uint32_t buf_len, int32_t timeout_ms, uint32_t *n);

AIRLOCK_NET_IMPORT("http_close")
uint32_t airlock_net_http_close(uint32_t handle);

#undef AIRLOCK_NET_IMPORT

#ifdef __cplusplus
}
#endif

#endif /* AIRLOCK_NET_H */

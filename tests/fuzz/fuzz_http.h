/*
 * fuzz_http.h - the verdict of the HTTP fuzz target (fuzz_http.c) on one
 * input, shared by the libFuzzer entry point and the corpus replay
 * (tests/unit/test_fuzz.c), which names each corpus file after it.
 *
 * A verdict is a list of words joined by '.', one per whole request in
 * order, then one for how the stream ends:
 *
 *   PUBLIC+ADMIN  a request, and what answers it on the public listener and
 *                 on the admin listener with admin_token = s3cr3t (neither
 *                 draining): "fractal" (an object, GET or HEAD), "purge",
 *                 "softpurge" (X-Purge-Soft: 1), "inspect" (GET or HEAD
 *                 /cache/fractal/<uuid>), "metrics", or the status of a small answer ("200", "404",
 *                 "405", "401"...);
 *   xSTATUS       the stream is rejected: answered STATUS (4xx or 5xx) and
 *                 closed, nothing after it is read;
 *   more          the input ends inside a request: the gateway waits;
 *   none          nothing at all (only for an empty input).
 *
 * So "fractal+401" is a GET of a fractal (which the admin listener refuses
 * without the token), "404+metrics" a GET /metrics with the token,
 * "200+401.x400" a /healthz, then a request refused with 400 that closes
 * the connection.  The words hold no '-', so a corpus file named
 * "VERDICT-shape" gives its verdict up to the first '-'.
 */
#ifndef GW_FUZZ_HTTP_H
#define GW_FUZZ_HTTP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Feed data[0..size) through the request path the three ways fuzz_http.c
 * describes, abort() if an invariant breaks or the three disagree, and
 * write the verdict into out (NUL-terminated, cut short to len - 1 bytes).
 * Returns the verdict's length, or -1 if it did not fit in len bytes or in
 * the target's own bound (512 bytes; a long pipeline can exceed it).  The
 * data is only read.
 */
int fuzz_http_verdict(const uint8_t *data, size_t size, char *out, size_t len);

#endif

/*
 * fuzz_http.c - libFuzzer target: arbitrary bytes through the request path
 * of a connection, without a network.
 *
 * The bytes go through gw_http_feed() with the shared llhttp settings the
 * way server.c's conn_parse() drives it: every whole request is routed with
 * gw_route_decide() (public and admin listener, draining or not, with and
 * without an admin token) and answered with gw_http_simple(); the bytes
 * after it are fed again after gw_http_next(), as pipelined requests are;
 * an error ends the stream with its answer.  Each input is fed three ways:
 * whole, one byte at a time (inputs up to 4 KiB), and cut at pseudo-random
 * points derived from the input, the way reads from a socket cut it.  All
 * three must see the same requests and agree on whether the stream ends in
 * an error.
 *
 * Invariants (abort on violation, so libFuzzer reports a crash):
 *   - a route to an object (FRACTAL, PURGE) carries exactly the 36 bytes of
 *     uuid that follow "/fractal/" or "/cache/fractal/" in the path, which
 *     ends there or at '?', and they are hex digits and dashes only: no
 *     percent-encoding, dot segment or control byte ever becomes a name;
 *   - every status answered is one gw_http_status_text() knows, and every
 *     answer is a well-formed head (CRLF lines, one empty line at the end)
 *     with a Content-Length that matches its body;
 *   - a request's URL, fields and values are within the configured limits.
 *
 * Built with clang -fsanitize=fuzzer by `make fuzz`; the corpus in
 * tests/fuzz/corpus is replayed by tests/unit/test_fuzz_http.c in
 * `make test`, which includes this file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "route.h"
#include "util.h"

/* Small limits, so that inputs reach them. */
#define FZ_MAX_HEAD 2048
#define FZ_MAX_HEADERS 16
#define FZ_MAX_URL 512
#define FZ_MAX_BODY 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond)                                                          \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz_http: invariant broken: %s (line %d)\n", #cond, \
                    __LINE__);                                                  \
            abort();                                                            \
        }                                                                       \
    } while (0)

struct fz_run {
    unsigned nreq;
    uint64_t digest;  /* of every request's method, URL and routing */
    int error;        /* the stream ended in an error answer */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}

/* A response as the gateway would send it: check its shape. */
static void check_answer(int status, const char *reason, const char *extra, int keepalive,
                         int http_minor, int head_only)
{
    FZ_CHECK(strcmp(gw_http_status_text(status), "Unknown") != 0);
    struct gw_buf b = {0};
    size_t body = gw_http_simple(&b, status, reason, extra, keepalive, http_minor, head_only);
    const char *end = strstr(b.data, "\r\n\r\n");
    FZ_CHECK(end != NULL);
    size_t head_len = (size_t)(end - b.data) + 4;
    FZ_CHECK(b.len == head_len + body);
    FZ_CHECK(head_only ? body == 0 : body > 0);
    for (size_t i = 0; i < head_len; i++) {
        if (b.data[i] == '\n') FZ_CHECK(i > 0 && b.data[i - 1] == '\r');
        if (b.data[i] == '\r') FZ_CHECK(i + 1 < head_len && b.data[i + 1] == '\n');
    }
    FZ_CHECK(memcmp(b.data, "HTTP/1.1 ", 9) == 0);
    const char *cl = strstr(b.data, "Content-Length: ");
    FZ_CHECK(cl != NULL && cl < end);
    char *num_end;
    unsigned long n = strtoul(cl + 16, &num_end, 10);
    FZ_CHECK(num_end[0] == '\r');
    if (!head_only) FZ_CHECK(n == body);
    gw_buf_free(&b);
}

static int is_uuid_char(char ch)
{
    return ch == '-' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
           (ch >= 'A' && ch <= 'F');
}

/* The path of the URL is prefix + name, then the end or '?'. */
static void check_name(const char *url, size_t ulen, const char *prefix, const char *name)
{
    size_t pl = strlen(prefix);
    FZ_CHECK(strlen(name) == 36);
    for (size_t i = 0; i < 36; i++) FZ_CHECK(is_uuid_char(name[i]));
    FZ_CHECK(ulen >= pl + 36);
    FZ_CHECK(memcmp(url, prefix, pl) == 0);
    FZ_CHECK(memcmp(url + pl, name, 36) == 0);
    FZ_CHECK(ulen == pl + 36 || url[pl + 36] == '?');
}

/* A whole request: limits held, then every routing of it checked. */
static void on_request(const struct gw_http_req *r, struct fz_run *run)
{
    size_t ulen;
    const char *url = gw_http_url(r, &ulen);
    FZ_CHECK(ulen <= FZ_MAX_URL && r->used <= FZ_MAX_HEAD && r->nhdrs <= FZ_MAX_HEADERS);
    FZ_CHECK(r->head_bytes <= FZ_MAX_HEAD && r->body_bytes <= FZ_MAX_BODY);
    FZ_CHECK(r->http_major == 1 && r->method_known);
    for (size_t i = 0; i < ulen; i++) FZ_CHECK(url[i] > 0x20 && url[i] < 0x7f);
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        const struct gw_header *h = &r->hdrs[i];
        FZ_CHECK(h->name_off + h->name_len <= r->used && h->value_off + h->value_len <= r->used);
        FZ_CHECK(h->name_len > 0);
    }
    size_t hl;
    FZ_CHECK(r->http_minor == 0 || gw_http_header(r, "Host", &hl) != NULL);

    run->nreq++;
    run->digest = mix(run->digest, &r->method, sizeof(r->method));
    run->digest = mix(run->digest, url, ulen);
    static const char *const tokens[] = {"", "s3cr3t"};
    for (int admin = 0; admin < 2; admin++)
        for (int draining = 0; draining < 2; draining++)
            for (int t = 0; t < 2; t++) {
                struct gw_route_ctx ctx = {admin, tokens[t], draining};
                struct gw_route d;
                gw_route_decide(r, &ctx, &d);
                run->digest = mix(run->digest, &d.kind, sizeof(d.kind));
                FZ_CHECK(d.head_only == (r->method == HTTP_HEAD));
                switch (d.kind) {
                case GW_ROUTE_FRACTAL:
                    FZ_CHECK(!admin);
                    FZ_CHECK(r->method == HTTP_GET || r->method == HTTP_HEAD);
                    check_name(url, ulen, "/fractal/", d.name);
                    break;
                case GW_ROUTE_PURGE:
                    FZ_CHECK(admin && r->method == HTTP_DELETE);
                    check_name(url, ulen, "/cache/fractal/", d.name);
                    break;
                case GW_ROUTE_METRICS:
                    FZ_CHECK(admin);
                    break;
                case GW_ROUTE_SIMPLE:
                    FZ_CHECK(d.reason != NULL);
                    if (d.status == 200 || d.status == 503) FZ_CHECK(d.status == (draining ? 503 : 200));
                    check_answer(d.status, d.reason, d.extra, r->keepalive, r->http_minor,
                                 d.head_only);
                    break;
                default:
                    FZ_CHECK(!"unknown route kind");
                }
            }
}

/*
 * Feed data in pieces: cut(i) gives the length of piece i (whole when
 * NULL), as reads from a socket would.
 */
static void feed(const uint8_t *data, size_t size, size_t (*cut)(uint64_t *), uint64_t seed,
                 struct fz_run *run)
{
    struct gw_http_req r;
    llhttp_t p;
    memset(run, 0, sizeof(*run));
    run->digest = 0xcbf29ce484222325ull;
    gw_http_req_init(&r, FZ_MAX_HEAD, FZ_MAX_HEADERS, FZ_MAX_URL, FZ_MAX_BODY);
    llhttp_init(&p, HTTP_REQUEST, &gw_http_settings);
    p.data = &r;
    size_t off = 0;
    /* Every round consumes a piece or ends a request, which takes bytes. */
    for (size_t round = 0; off < size && round < 2 * size + 2; round++) {
        size_t n = cut ? cut(&seed) : size - off;
        if (n > size - off) n = size - off;
        const char *buf = (const char *)data + off;
        size_t used = 0;
        enum gw_http_feed_result rc = gw_http_feed(&p, &r, buf, n, &used);
        if (rc == GW_HTTP_MORE) {
            off += n;
            continue;
        }
        if (rc == GW_HTTP_ERROR) {
            FZ_CHECK(r.error_status >= 400 && r.error_reason != NULL);
            check_answer(r.error_status, r.error_reason, NULL, 0, r.http_minor,
                         r.method_known && r.method == HTTP_HEAD);
            run->error = 1;
            break;
        }
        FZ_CHECK(rc == GW_HTTP_REQUEST && used <= n);
        on_request(&r, run);
        off += used;
        gw_http_next(&p, &r);
    }
    gw_http_req_free(&r);
}

static size_t cut_one(uint64_t *seed)
{
    (void)seed;
    return 1;
}

static size_t cut_random(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    return 1 + (size_t)((*seed >> 33) % 97);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_run whole, bytes, pieces;
    feed(data, size, NULL, 0, &whole);
    feed(data, size, cut_random, mix(0, data, size < 64 ? size : 64), &pieces);
    FZ_CHECK(pieces.nreq == whole.nreq && pieces.digest == whole.digest &&
             pieces.error == whole.error);
    if (size <= 4096) {
        feed(data, size, cut_one, 0, &bytes);
        FZ_CHECK(bytes.nreq == whole.nreq && bytes.digest == whole.digest &&
                 bytes.error == whole.error);
    }
    return 0;
}

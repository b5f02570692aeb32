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
 * three must see the same requests, route them the same way and agree on
 * how the stream ends: on the input's verdict (fuzz_http.h), which
 * fuzz_http_verdict() returns and the corpus replay checks against the name
 * of each corpus file.
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
 * Built with clang -fsanitize=fuzzer by `make fuzz` (entry.c calls
 * fuzz_http_verdict()); the corpus in tests/fuzz/http is replayed by
 * tests/unit/test_fuzz.c in `make test`, which links this file in.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"
#include "http.h"
#include "route.h"
#include "util.h"

/* Small limits, so that inputs reach them. */
#define FZ_MAX_HEAD 2048
#define FZ_MAX_HEADERS 16
#define FZ_MAX_URL 512
#define FZ_MAX_BODY 256

#define FZ_CHECK(cond)                                                          \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz_http: invariant broken: %s (line %d)\n", #cond, \
                    __LINE__);                                                  \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* Room for the verdict of any corpus file; a longer one is cut short. */
#define FZ_VERDICT_MAX 512

/* The admin token the routing is tried with; the seeds that reach the
 * admin routes carry it. */
#define FZ_ADMIN_TOKEN "s3cr3t"
#define FZ_WRITE_TOKEN "wr1te"

struct fz_run {
    unsigned nreq;
    uint64_t digest;  /* of every request's method, URL and routing */
    int error;        /* 0, or the status of the error answer ending the stream */
    int pending;      /* the input ended inside a request */
    char verdict[FZ_VERDICT_MAX]; /* one word per request so far */
    size_t vlen;
    int vfull;        /* a word did not fit: the verdict is cut short */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}

/* Append one word to the verdict, after a '.' unless it is the first. */
static void verdict_word(struct fz_run *run, const char *word)
{
    size_t n = strlen(word) + (run->vlen > 0);
    if (run->vfull || run->vlen + n >= sizeof(run->verdict)) {
        run->vfull = 1;
        return;
    }
    if (run->vlen > 0) run->verdict[run->vlen++] = '.';
    memcpy(run->verdict + run->vlen, word, strlen(word) + 1);
    run->vlen += strlen(word);
}

/* A route in the verdict's words: fractal, purge, softpurge, inspect, metrics or the status. */
static void route_word(const struct gw_route *d, char *out, size_t len)
{
    switch (d->kind) {
    case GW_ROUTE_FRACTAL: snprintf(out, len, "fractal"); break;
    case GW_ROUTE_PURGE: snprintf(out, len, d->soft ? "softpurge" : "purge"); break;
    case GW_ROUTE_INSPECT: snprintf(out, len, "inspect"); break;
    case GW_ROUTE_PREFLIGHT: snprintf(out, len, "preflight"); break;
    case GW_ROUTE_UPLOAD: snprintf(out, len, "upload"); break;
    case GW_ROUTE_DELETE: snprintf(out, len, "delete"); break;
    case GW_ROUTE_METRICS: snprintf(out, len, "metrics"); break;
    case GW_ROUTE_SIMPLE: snprintf(out, len, "%d", d->status); break;
    default: FZ_CHECK(!"unknown route kind");
    }
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
    static const char *const tokens[] = {"", FZ_ADMIN_TOKEN};
    char pub[16] = "", adm[16] = "";
    for (int admin = 0; admin < 2; admin++)
        for (int draining = 0; draining < 2; draining++)
            for (int t = 0; t < 4; t++) {
                /* t 2 and 3: writes on, with the admin token or without. */
                struct gw_route_ctx ctx = {.admin = admin, .admin_token = tokens[t & 1],
                                           .draining = draining,
                                           .write_token = t >= 2 ? FZ_WRITE_TOKEN : ""};
                struct gw_route d;
                gw_route_decide(r, &ctx, &d);
                run->digest = mix(run->digest, &d.kind, sizeof(d.kind));
                /* The verdict: the public listener, and the admin one with
                 * a token configured, neither draining. */
                if (!draining && t == admin) /* writes off */
                    route_word(&d, admin ? adm : pub, admin ? sizeof(adm) : sizeof(pub));
                FZ_CHECK(d.head_only == (r->method == HTTP_HEAD));
                switch (d.kind) {
                case GW_ROUTE_FRACTAL:
                    FZ_CHECK(!admin);
                    FZ_CHECK(r->method == HTTP_GET || r->method == HTTP_HEAD);
                    check_name(url, ulen, "/fractal/", d.name);
                    break;
                case GW_ROUTE_UPLOAD:
                case GW_ROUTE_DELETE:
                    /* Only with the write token, which only t >= 2 configures. */
                    FZ_CHECK(!admin && t >= 2);
                    FZ_CHECK(r->method == (d.kind == GW_ROUTE_UPLOAD ? HTTP_PUT : HTTP_DELETE));
                    check_name(url, ulen, "/fractal/", d.name);
                    break;
                case GW_ROUTE_PURGE:
                    FZ_CHECK(admin && (r->method == HTTP_DELETE || r->method == HTTP_PURGE));
                    check_name(url, ulen, r->method == HTTP_DELETE ? "/cache/fractal/" : "/fractal/",
                               d.name);
                    break;
                case GW_ROUTE_INSPECT:
                    FZ_CHECK(admin && (r->method == HTTP_GET || r->method == HTTP_HEAD));
                    check_name(url, ulen, "/cache/fractal/", d.name);
                    break;
                case GW_ROUTE_PREFLIGHT:
                    FZ_CHECK(!admin && r->method == HTTP_OPTIONS);
                    check_name(url, ulen, "/fractal/", d.name);
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
    char word[sizeof(pub) + sizeof(adm) + 1];
    snprintf(word, sizeof(word), "%s+%s", pub, adm);
    verdict_word(run, word);
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
        run->pending = rc == GW_HTTP_MORE;
        if (rc == GW_HTTP_MORE) {
            off += n;
            continue;
        }
        if (rc == GW_HTTP_ERROR) {
            FZ_CHECK(r.error_status >= 400 && r.error_reason != NULL);
            check_answer(r.error_status, r.error_reason, NULL, 0, r.http_minor,
                         r.method_known && r.method == HTTP_HEAD);
            run->error = r.error_status;
            break;
        }
        FZ_CHECK(rc == GW_HTTP_REQUEST && used <= n);
        on_request(&r, run);
        off += used;
        gw_http_next(&p, &r);
    }
    /* Every byte is consumed unless an error ended the stream. */
    FZ_CHECK(run->error || off == size);
    gw_http_req_free(&r);
}

/* The verdict's last word: how the stream ended. */
static void verdict_end(struct fz_run *run)
{
    char word[16];
    if (run->error) {
        snprintf(word, sizeof(word), "x%d", run->error);
        verdict_word(run, word);
    } else if (run->pending) {
        verdict_word(run, "more");
    } else if (run->vlen == 0) {
        verdict_word(run, "none");
    }
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

/*
 * Two feeds of the same input saw the same requests, routed the same way,
 * and the stream ended the same way.  Not compared: which status rejects a
 * stream, which can depend on where the reads cut it (a request line
 * without a version is a 505 from llhttp when it comes in one read, a 400
 * from the head scanner when it comes in pieces); the verdict takes the
 * whole feed's.
 */
static void check_same(const struct fz_run *a, const struct fz_run *b)
{
    FZ_CHECK(a->nreq == b->nreq && a->digest == b->digest);
    FZ_CHECK((a->error != 0) == (b->error != 0) && a->pending == b->pending);
    FZ_CHECK(a->vfull == b->vfull && strcmp(a->verdict, b->verdict) == 0);
}

int fuzz_http_verdict(const uint8_t *data, size_t size, char *out, size_t len)
{
    struct fz_run whole, bytes, pieces;
    feed(data, size, NULL, 0, &whole);
    feed(data, size, cut_random, mix(0, data, size < 64 ? size : 64), &pieces);
    check_same(&pieces, &whole);
    if (size <= 4096) {
        feed(data, size, cut_one, 0, &bytes);
        check_same(&bytes, &whole);
    }
    verdict_end(&whole);
    if (len > 0) snprintf(out, len, "%s", whole.verdict);
    return whole.vfull || whole.vlen >= len ? -1 : (int)whole.vlen;
}


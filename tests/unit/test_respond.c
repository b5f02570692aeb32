/*
 * test_respond.c - the respond module against a fake sink, with no event
 * loop: heads (simple, warm, object heads with preconditions, ranges and
 * multipart), and bodies from an open blob under congestion.
 *
 * The fake sink appends every byte to one buffer and can be told to say
 * "congested" once more than a given number of bytes is queued; "draining"
 * it empties the count, as a written queue would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobfd.h"
#include "cache.h"
#include "conf.h"
#include "http.h"
#include "replay.h"
#include "respond.h"
#include "sink.h"
#include "unit.h"
#include "util.h"

struct fake {
    struct gw_sink sink;
    struct gw_buf out;          /* everything written */
    size_t queued;              /* since the last drain */
    size_t high;                /* congested above this; 0 = never */
    int ended, aborted, writes, file_writes, refs_out;
    struct gw_http_req req;
    llhttp_t parser;
};

static struct fake *fake_of(const struct gw_sink *s)
{
    return (struct fake *)(uintptr_t)s;
}

static void f_write(struct gw_sink *s, const void *d, size_t n)
{
    struct fake *f = fake_of(s);
    ck_assert(!f->ended && !f->aborted);
    gw_buf_append(&f->out, d, n);
    f->queued += n;
    f->writes++;
}

static void f_write_buf(struct gw_sink *s, struct gw_buf *b)
{
    f_write(s, b->data, b->len);
    gw_buf_free(b);
}

static void f_write_file(struct gw_sink *s, int fd, uint64_t off, uint64_t n,
                         void (*rel)(void *), void *arg)
{
    char *d = malloc(n ? n : 1);
    ck_assert_int_eq(pread(fd, d, n, (off_t)off), (ssize_t)n);
    f_write(s, d, n);
    fake_of(s)->file_writes++;
    free(d);
    rel(arg); /* "written" at once */
}

static int f_congested(const struct gw_sink *s)
{
    const struct fake *f = fake_of(s);
    return f->high > 0 && f->queued > f->high;
}

static void f_wait_drain(struct gw_sink *s)
{
    (void)s;
}

static void f_end(struct gw_sink *s)
{
    fake_of(s)->ended++;
}

static void f_abort(struct gw_sink *s)
{
    fake_of(s)->aborted++;
}

static void f_attach(struct gw_sink *s, const struct gw_sink_owner *o, void *ud)
{
    (void)s;
    (void)o;
    (void)ud;
}

static const struct gw_sink_ops fake_ops = {
    .write = f_write, .write_buf = f_write_buf, .write_file = f_write_file,
    .congested = f_congested, .wait_drain = f_wait_drain, .end = f_end,
    .abort = f_abort, .attach = f_attach,
};

/* A fake sink holding the parsed request `raw` (a whole head). */
static struct fake *fake_new(const char *raw)
{
    struct fake *f = calloc(1, sizeof(*f));
    f->sink.ops = &fake_ops;
    f->sink.req = &f->req;
    f->sink.peer = "test";
    gw_http_req_init(&f->req, 8192, 64, 4096, 0);
    llhttp_init(&f->parser, HTTP_REQUEST, &gw_http_settings);
    f->parser.data = &f->req;
    size_t used;
    ck_assert_int_eq(gw_http_feed(&f->parser, &f->req, raw, strlen(raw), &used),
                     GW_HTTP_REQUEST);
    f->sink.keepalive = f->req.keepalive;
    return f;
}

static void fake_free(struct fake *f)
{
    gw_buf_free(&f->out);
    gw_http_req_free(&f->req);
    free(f);
}

static int starts(const char *t, const char *prefix)
{
    return strncmp(t, prefix, strlen(prefix)) == 0;
}

/* Where needle is in the output's body (binary: no str* functions), or NULL. */
static const char *find(const struct fake *f, size_t from, const char *needle)
{
    return memmem(f->out.data + from, f->out.len - from, needle, strlen(needle));
}

/* The output as a NUL-terminated string (heads are text). */
static const char *text(struct fake *f)
{
    gw_buf_append(&f->out, "", 1);
    f->out.len--;
    return f->out.data;
}

static const struct gw_conf *conf_of(void)
{
    static struct gw_conf conf;
    static char cc[] = "public, max-age=3600", none[] = "";
    conf.cache_control = cc;
    conf.cors_allow_origin = none;      /* CORS off: no line of it */
    conf.cors_expose_headers = none;
    conf.write_buffer = 4096;
    return &conf;
}

#define GET(path, more) "GET " path " HTTP/1.1\r\nHost: t\r\n" more "\r\n"
#define ETAG "0123456789abcdef0123456789abcdef"
#define LM "Tue, 24 Nov 2026 17:00:00 GMT"

static struct gw_object_meta meta(uint64_t len)
{
    return (struct gw_object_meta){.length = len, .etag = ETAG, .last_modified = LM,
                                   .content_type = "image/png", .stored_at = 0};
}

/* ---- simple and warm ---- */

START_TEST(simple_says_x_cache_for_objects)
{
    struct fake *f = fake_new(GET("/fractal/x", ""));
    gw_sink_set_cache(&f->sink, GW_CACHE_MISS);
    gw_respond_simple(&f->sink, 404, "no such fractal", NULL);
    const char *t = text(f);
    ck_assert_msg(starts(t, "HTTP/1.1 404 Not Found\r\n"), "%s", t);
    ck_assert_ptr_nonnull(strstr(t, "\r\nX-Cache: MISS\r\n"));
    ck_assert_ptr_nonnull(strstr(t, "\r\n\r\n404 no such fractal\n"));
    ck_assert_int_eq(f->sink.status, 404);
    ck_assert_int_eq(f->sink.bytes, strlen("404 no such fractal\n"));
    ck_assert_int_eq(f->ended, 1);
    fake_free(f);
}
END_TEST

START_TEST(simple_409_has_its_reason_and_head_has_no_body)
{
    struct fake *f = fake_new("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    gw_respond_simple(&f->sink, 409, "no cache configured to warm", "Retry-After: 1\r\n");
    const char *t = text(f);
    ck_assert_msg(starts(t, "HTTP/1.1 409 Conflict\r\n"), "%s", t);
    ck_assert_ptr_null(strstr(t, "X-Cache"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nRetry-After: 1\r\n"));
    ck_assert_msg(strcmp(t + strlen(t) - 4, "\r\n\r\n") == 0, "a HEAD has no body: %s", t);
    ck_assert_int_eq(f->sink.bytes, 0);
    fake_free(f);
}
END_TEST

START_TEST(warm_is_204_with_the_cache_result)
{
    struct fake *f = fake_new(GET("/fractal/x", "X-Swiftgate-Warm: 1\r\n"));
    gw_respond_warm(&f->sink, GW_CACHE_REVALIDATED);
    const char *t = text(f);
    ck_assert_msg(starts(t, "HTTP/1.1 204 No Content\r\n"), "%s", t);
    ck_assert_ptr_nonnull(strstr(t, "\r\nX-Cache: REVALIDATED\r\n"));
    ck_assert_ptr_null(strstr(t, "Content-Length: 1"));
    ck_assert_int_eq(f->sink.cache, GW_CACHE_REVALIDATED);
    ck_assert_int_eq(f->sink.status, 204);
    ck_assert_int_eq(f->ended, 1);
    fake_free(f);
}
END_TEST

/* ---- object heads ---- */

/* Plan the body and send the head; the return of gw_respond_object_head(). */
static int head_of(struct fake *f, struct gw_body *b, uint64_t len, int head_only)
{
    struct gw_object_meta m = meta(len);
    memset(b, 0, sizeof(*b));
    gw_body_plan(b, &f->req, head_only, len, m.etag, m.last_modified);
    return gw_respond_object_head(&f->sink, conf_of(), b, &m, head_only);
}

START_TEST(object_head_whole)
{
    struct fake *f = fake_new(GET("/fractal/x", ""));
    struct gw_body b;
    gw_sink_set_cache(&f->sink, GW_CACHE_HIT);
    ck_assert_int_eq(head_of(f, &b, 1000, 0), 0);
    const char *t = text(f);
    ck_assert_msg(starts(t, "HTTP/1.1 200 OK\r\n"), "%s", t);
    ck_assert_ptr_nonnull(strstr(t, "\r\nContent-Type: image/png\r\n"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nContent-Length: 1000\r\n"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nETag: \"" ETAG "\"\r\n"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nLast-Modified: " LM "\r\n"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nAccept-Ranges: bytes\r\n"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nCache-Control: public, max-age=3600\r\n"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nX-Cache: HIT\r\nCache-Status: swiftgate; hit\r\n"));
    ck_assert_ptr_null(strstr(t, "Age:"));
    ck_assert_int_eq(b.nparts, 1);
    ck_assert_int_eq(b.parts[0].first, 0);
    ck_assert_int_eq(b.parts[0].last, 999);
    ck_assert_int_eq(f->ended, 0);
    ck_assert_int_eq(f->sink.status, 200);
    fake_free(f);
}
END_TEST

START_TEST(object_head_age_from_stored_at)
{
    struct fake *f = fake_new(GET("/fractal/x", ""));
    struct gw_body b = {0};
    struct gw_object_meta m = meta(10);
    m.stored_at = gw_wall_ms() - 5500;
    gw_body_plan(&b, &f->req, 0, 10, m.etag, m.last_modified);
    ck_assert_int_eq(gw_respond_object_head(&f->sink, conf_of(), &b, &m, 0), 0);
    ck_assert_ptr_nonnull(strstr(text(f), "\r\nAge: 5\r\n"));
    fake_free(f);
}
END_TEST

/* The head of a whole 200 for meta m, with m.prepared pointing at slot (or not). */
static char *whole_head(struct gw_object_meta *m, _Atomic(char *) *slot)
{
    /* The same request id each time: heads are compared byte for byte. */
    struct fake *f = fake_new(GET("/fractal/x", "X-Request-Id: same-1\r\n"));
    struct gw_body b = {0};
    gw_sink_set_cache(&f->sink, GW_CACHE_HIT);
    m->prepared = slot;
    gw_body_plan(&b, &f->req, 0, m->length, m->etag, m->last_modified);
    ck_assert_int_eq(gw_respond_object_head(&f->sink, conf_of(), &b, m, 0), 0);
    char *t = strdup(text(f));
    fake_free(f);
    return t;
}

START_TEST(object_head_prepared_once_is_the_same_head)
{
    struct gw_object_meta m = meta(1000);
    m.stored_at = gw_wall_ms() - 3000;
    _Atomic(char *) slot = NULL;
    char *plain = whole_head(&m, NULL);
    char *first = whole_head(&m, &slot);
    char *kept = atomic_load(&slot);
    ck_assert_ptr_nonnull(kept);
    ck_assert_ptr_nonnull(strstr(kept, "Content-Length: 1000\r\n"));
    char *second = whole_head(&m, &slot);
    ck_assert_ptr_eq(atomic_load(&slot), kept); /* built once, then reused */
    /* Byte for byte the head built line by line (a Date second may turn). */
    ck_assert_str_eq(strstr(first, "\r\nServer:"), strstr(plain, "\r\nServer:"));
    ck_assert_str_eq(strstr(second, "\r\nServer:"), strstr(plain, "\r\nServer:"));
    ck_assert_ptr_nonnull(strstr(second, "\r\nAge: 3\r\nX-Cache: HIT\r\n"));
    free(plain);
    free(first);
    free(second);
    free(kept);
}
END_TEST

START_TEST(object_head_one_range)
{
    struct fake *f = fake_new(GET("/fractal/x", "Range: bytes=100-199\r\n"));
    struct gw_body b;
    ck_assert_int_eq(head_of(f, &b, 1000, 0), 0);
    const char *t = text(f);
    ck_assert_msg(starts(t, "HTTP/1.1 206 Partial Content\r\n"), "%s", t);
    ck_assert_ptr_nonnull(strstr(t, "\r\nContent-Length: 100\r\n"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nContent-Range: bytes 100-199/1000\r\n"));
    ck_assert_int_eq(b.parts[0].first, 100);
    fake_free(f);
}
END_TEST

START_TEST(object_head_preconditions)
{
    struct fake *f = fake_new(GET("/fractal/x", "If-None-Match: \"" ETAG "\"\r\n"));
    struct gw_body b;
    ck_assert_int_eq(head_of(f, &b, 1000, 0), 1);
    const char *t = text(f);
    ck_assert_msg(starts(t, "HTTP/1.1 304 Not Modified\r\n"), "%s", t);
    ck_assert_ptr_null(strstr(t, "Content-Length"));
    ck_assert_ptr_nonnull(strstr(t, "\r\nETag: \"" ETAG "\"\r\n"));
    ck_assert_int_eq(f->ended, 1);
    fake_free(f);

    f = fake_new(GET("/fractal/x", "If-Match: \"other\"\r\n"));
    ck_assert_int_eq(head_of(f, &b, 1000, 0), 1);
    ck_assert_msg(starts(text(f), "HTTP/1.1 412 "), "%s", text(f));
    ck_assert_int_eq(f->sink.status, 412);
    fake_free(f);

    f = fake_new(GET("/fractal/x", "Range: bytes=5000-\r\n"));
    ck_assert_int_eq(head_of(f, &b, 1000, 0), 1);
    ck_assert_msg(starts(text(f), "HTTP/1.1 416 "), "%s", text(f));
    ck_assert_ptr_nonnull(strstr(text(f), "\r\nContent-Range: bytes */1000\r\n"));
    fake_free(f);
}
END_TEST

#define OWN_CC "Cache-Control: no-cache\r\n"
#define OWN_EXP "Expires: Thu, 01 Dec 2033 16:00:00 GMT\r\n"
#define OWN_CD "Content-Disposition: attachment\r\n"

/* Swift's own headers replace the configured Cache-Control; a 304 keeps two. */
START_TEST(object_head_replays_swifts_own_headers)
{
    ck_assert_int_eq(gw_replay_has_cache_control(OWN_CC OWN_EXP), 1);
    ck_assert_int_eq(gw_replay_has_cache_control(OWN_EXP OWN_CD), 0);
    ck_assert_int_eq(gw_replay_has_cache_control(NULL), 0);
    static const char *const asks[] = {GET("/fractal/x", ""),
                                       GET("/fractal/x", "If-None-Match: \"" ETAG "\"\r\n")};
    for (int i = 0; i < 2; i++) {
        struct fake *f = fake_new(asks[i]);
        struct gw_body b;
        struct gw_object_meta m = meta(1000);
        m.replay = OWN_CC OWN_EXP OWN_CD;
        memset(&b, 0, sizeof(b));
        gw_body_plan(&b, &f->req, 0, 1000, m.etag, m.last_modified);
        gw_respond_object_head(&f->sink, conf_of(), &b, &m, 0);
        const char *t = text(f);
        ck_assert_msg(starts(t, i ? "HTTP/1.1 304 " : "HTTP/1.1 200 "), "%s", t);
        ck_assert_msg(strstr(t, "\r\n" OWN_CC) != NULL, "%s", t);
        ck_assert_msg(strstr(t, "max-age=3600") == NULL, "%s", t);
        ck_assert_msg(strstr(t, "\r\n" OWN_EXP) != NULL, "%s", t);
        ck_assert_msg((strstr(t, OWN_CD) != NULL) == (i == 0), "%s", t);
        fake_free(f);
    }
    struct gw_buf out = {0};
    gw_replay_write(&out, OWN_CD OWN_EXP, 304);
    gw_buf_append(&out, "", 1);
    ck_assert_str_eq(out.data, OWN_EXP);
    gw_buf_free(&out);
}
END_TEST

START_TEST(object_head_head_and_empty_end_at_once)
{
    struct fake *f = fake_new("HEAD /fractal/x HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\n\r\n");
    struct gw_body b;
    ck_assert_int_eq(head_of(f, &b, 1000, 1), 1);
    /* A HEAD ignores Range: the whole object's head. */
    ck_assert_msg(starts(text(f), "HTTP/1.1 200 OK\r\n"), "%s", text(f));
    ck_assert_ptr_nonnull(strstr(text(f), "\r\nContent-Length: 1000\r\n"));
    ck_assert_int_eq(f->ended, 1);
    fake_free(f);

    f = fake_new(GET("/fractal/x", ""));
    ck_assert_int_eq(head_of(f, &b, 0, 0), 1);
    ck_assert_ptr_nonnull(strstr(text(f), "\r\nContent-Length: 0\r\n"));
    ck_assert_int_eq(f->ended, 1);
    fake_free(f);
}
END_TEST

/* ---- bodies from a blob ---- */

static char cache_dir[] = "/tmp/swiftgate-respond-XXXXXX";

/* A blob of len pattern bytes, mapped; its bytes in *data (caller frees). */
static struct gw_blobfd *blob(struct gw_cache **cache, size_t len, unsigned char **data)
{
    ck_assert_ptr_nonnull(mkdtemp(cache_dir));
    struct gw_cache_options o = {.dir = cache_dir};
    char err[256];
    ck_assert_int_eq(gw_cache_open(cache, &o, err, sizeof(err)), 0);
    unsigned char *buf = malloc(len);
    for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)(i * 7 + i / 251);
    struct gw_cache_entry e = {0};
    gw_cache_key("c", "o", e.key);
    e.kind = GW_CACHE_KIND_OBJECT;
    e.size = len;
    char path[4096];
    int fd = gw_cache_tmp_open(*cache, path, sizeof(path));
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    ck_assert_int_eq(gw_cache_commit(*cache, &e, path, fd), 0);
    close(fd);
    struct gw_blobfd *m;
    ck_assert_int_eq(gw_blobfd_open(*cache, &e, &m), 0);
    *data = buf;
    return m;
}

static void blob_done(struct gw_cache *cache, struct gw_blobfd *m, unsigned char *data)
{
    gw_blobfd_release(m);
    gw_blobfd_shutdown();
    gw_cache_close(cache);
    free(data);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", cache_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Pump until done, draining the fake sink whenever it is congested. */
static int pump_all(struct fake *f, struct gw_body *b, struct gw_blobfd *m, int *rounds)
{
    for (*rounds = 1; *rounds < 10000; (*rounds)++) {
        if (gw_respond_parts_from_blob(&f->sink, b, m, 1000)) return 1;
        ck_assert(gw_sink_congested(&f->sink));
        f->queued = 0;
    }
    return 0;
}

START_TEST(blob_body_whole_under_congestion)
{
    struct gw_cache *cache;
    unsigned char *data;
    struct gw_blobfd *m = blob(&cache, 30000, &data);
    struct fake *f = fake_new(GET("/fractal/x", ""));
    struct gw_body b;
    ck_assert_int_eq(head_of(f, &b, 30000, 0), 0);
    size_t head_len = f->out.len;
    f->high = 2500; /* slices of 1,000: the body goes out as file ranges */
    int rounds;
    ck_assert(pump_all(f, &b, m, &rounds));
    ck_assert_int_gt(rounds, 3); /* it stopped for the congested sink */
    ck_assert_int_eq(f->out.len - head_len, 30000);
    ck_assert(memcmp(f->out.data + head_len, data, 30000) == 0);
    ck_assert_int_eq(f->sink.bytes, 30000);
    fake_free(f);
    blob_done(cache, m, data);
}
END_TEST

START_TEST(blob_body_multipart_matches_its_length)
{
    struct gw_cache *cache;
    unsigned char *data;
    struct gw_blobfd *m = blob(&cache, 10000, &data);
    struct fake *f = fake_new(GET("/fractal/x", "Range: bytes=0-9, 5000-6999, -3\r\n"));
    struct gw_body b;
    ck_assert_int_eq(head_of(f, &b, 10000, 0), 0);
    ck_assert_int_eq(b.nparts, 3);
    const char *t = text(f);
    ck_assert_msg(starts(t, "HTTP/1.1 206 "), "%s", t);
    const char *ct = strstr(t, "Content-Type: multipart/byteranges; boundary=");
    ck_assert_ptr_nonnull(ct);
    char boundary[64];
    ck_assert_int_eq(sscanf(ct, "Content-Type: multipart/byteranges; boundary=%63[^\r]",
                            boundary), 1);
    unsigned long long clen;
    ck_assert_int_eq(sscanf(strstr(t, "Content-Length: "), "Content-Length: %llu", &clen), 1);
    size_t head_len = strstr(t, "\r\n\r\n") + 4 - t;
    f->high = 700;
    int rounds;
    ck_assert(pump_all(f, &b, m, &rounds));
    /* The body is exactly as long as the head promised, framed as RFC 9110 says. */
    ck_assert_int_eq(f->out.len - head_len, clen);
    const char *body = text(f) + head_len;
    char want[256];
    snprintf(want, sizeof(want), "\r\n--%s\r\nContent-Type: image/png\r\n"
             "Content-Range: bytes 0-9/10000\r\n\r\n", boundary);
    ck_assert(starts(body, want));
    ck_assert(memcmp(body + strlen(want), data, 10) == 0);
    snprintf(want, sizeof(want), "Content-Range: bytes 5000-6999/10000\r\n\r\n");
    const char *p2 = find(f, head_len, want);
    ck_assert_ptr_nonnull(p2);
    ck_assert(memcmp(p2 + strlen(want), data + 5000, 2000) == 0);
    snprintf(want, sizeof(want), "Content-Range: bytes 9997-9999/10000\r\n\r\n");
    const char *p3 = find(f, head_len, want);
    ck_assert_ptr_nonnull(p3);
    ck_assert(memcmp(p3 + strlen(want), data + 9997, 3) == 0);
    snprintf(want, sizeof(want), "\r\n--%s--\r\n", boundary);
    ck_assert(memcmp(body + (f->out.len - head_len) - strlen(want), want, strlen(want)) == 0);
    ck_assert_int_eq(f->sink.bytes, 10 + 2000 + 3);
    fake_free(f);
    blob_done(cache, m, data);
}
END_TEST

START_TEST(blob_slices_are_bounded)
{
    struct gw_cache *cache;
    unsigned char *data;
    struct gw_blobfd *m = blob(&cache, 40000, &data);
    struct fake *f = fake_new(GET("/fractal/x", ""));
    uint64_t n = gw_respond_from_blob(&f->sink, m, 100, 20000, 4096);
    ck_assert_int_eq(n, 20000);
    ck_assert_int_eq(f->writes, 5); /* 4 x 4096 and 3616, each a file range */
    ck_assert_int_eq(f->file_writes, 5);
    ck_assert(memcmp(f->out.data, data + 100, 20000) == 0);
    /* A short body is one copy, to leave with its head in one write. */
    n = gw_respond_from_blob(&f->sink, m, 30000, 3000, 1024);
    ck_assert_int_eq(n, 3000);
    ck_assert_int_eq(f->writes, 6);
    ck_assert_int_eq(f->file_writes, 5);
    ck_assert(memcmp(f->out.data + 20000, data + 30000, 3000) == 0);
    fake_free(f);
    blob_done(cache, m, data);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("respond");
    TCase *h = tcase_create("heads");
    tcase_add_test(h, simple_says_x_cache_for_objects);
    tcase_add_test(h, simple_409_has_its_reason_and_head_has_no_body);
    tcase_add_test(h, warm_is_204_with_the_cache_result);
    tcase_add_test(h, object_head_whole);
    tcase_add_test(h, object_head_age_from_stored_at);
    tcase_add_test(h, object_head_prepared_once_is_the_same_head);
    tcase_add_test(h, object_head_one_range);
    tcase_add_test(h, object_head_preconditions);
    tcase_add_test(h, object_head_head_and_empty_end_at_once);
    tcase_add_test(h, object_head_replays_swifts_own_headers);
    suite_add_tcase(s, h);
    TCase *b = tcase_create("bodies");
    tcase_add_test(b, blob_body_whole_under_congestion);
    tcase_add_test(b, blob_body_multipart_matches_its_length);
    tcase_add_test(b, blob_slices_are_bounded);
    suite_add_tcase(s, b);
    return s;
}

int main(void)
{
    return unit_run(suite()) == 0 ? 0 : 1;
}

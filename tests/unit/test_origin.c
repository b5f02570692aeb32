/*
 * test_origin.c - header values from the origin: the field-value check
 * (gw_http_field_value_ok) byte by byte, and what a real fetch makes of a
 * head with a bad value.  A thread on a loopback socket answers each fetch
 * with raw bytes, so the test sees what curl itself passes on (a NUL it
 * refuses; a CR inside a line, 0x01 or DEL it hands over) and that such a
 * head ends the fetch with GW_EBADHEADER before on_headers, counted once.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "http.h"
#include "origin.h"
#include "stats.h"
#include "unit.h"
#include "util.h"

START_TEST(field_value_bytes)
{
    for (int c = 0; c < 256; c++) {
        char v[3] = {'a', (char)c, 'b'};
        int want = c == '\t' || (c >= 0x20 && c <= 0x7e) || c >= 0x80;
        ck_assert_msg(gw_http_field_value_ok(v, 3) == want, "byte 0x%02x", c);
    }
    ck_assert_int_eq(gw_http_field_value_ok("", 0), 1);
    ck_assert_int_eq(gw_http_field_value_ok("image/png", 9), 1);
    ck_assert_int_eq(gw_http_field_value_ok("text/html\r\nX-Evil: 1", 20), 0);
    /* The length counts, not a NUL: a value is bytes, not a C string. */
    ck_assert_int_eq(gw_http_field_value_ok("Mon\0 Tue", 8), 0);
}
END_TEST

/* ---- a one-shot origin that sends a raw head ---- */

struct server {
    int fd, port;
    const char *head;   /* status line and fields, without the empty line */
    pthread_t th;
};

static void *serve_one(void *arg)
{
    struct server *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) return NULL;
    char req[4096];
    size_t n = 0;
    ssize_t r;
    /* Read the request head (bounded by the buffer), then answer. */
    while (n < sizeof(req) - 1 && (r = read(c, req + n, sizeof(req) - 1 - n)) > 0) {
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n")) break;
    }
    static const char tail[] = "Content-Length: 2\r\nConnection: close\r\n\r\nok";
    size_t hl = strlen(s->head);
    /* A NUL in the head is written as "\\0" in the case tables: send a 0. */
    char *out = malloc(hl + sizeof(tail));
    size_t o = 0;
    for (size_t i = 0; i < hl; i++) {
        if (s->head[i] == '\\' && s->head[i + 1] == '0') {
            out[o++] = '\0';
            i++;
        } else {
            out[o++] = s->head[i];
        }
    }
    memcpy(out + o, tail, sizeof(tail) - 1);
    o += sizeof(tail) - 1;
    ssize_t w = write(c, out, o);
    (void)w;
    free(out);
    close(c);
    return NULL;
}

static void server_start(struct server *s, const char *head)
{
    s->head = head;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(s->fd, 1), 0);
    socklen_t len = sizeof(a);
    ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&s->th, NULL, serve_one, s), 0);
}

struct result {
    int headers_called, done, err;
    char content_type[64], x_foo[64], x_bar[64], error_text[256];
};

static void copy_or_absent(char *dst, size_t cap, const char *v)
{
    snprintf(dst, cap, "%s", v ? v : "(absent)");
}

static int t_headers(void *ud, struct gw_fetch *f, long status)
{
    struct result *res = ud;
    res->headers_called = (int)status;
    copy_or_absent(res->content_type, sizeof(res->content_type),
                   gw_fetch_header(f, "Content-Type"));
    copy_or_absent(res->x_foo, sizeof(res->x_foo), gw_fetch_header(f, "X-Foo"));
    copy_or_absent(res->x_bar, sizeof(res->x_bar), gw_fetch_header(f, "X-Bar"));
    return 0;
}

static int t_data(void *ud, const char *buf, size_t len)
{
    (void)ud, (void)buf, (void)len;
    return 0;
}

static void t_done(void *ud, struct gw_fetch *f, int err)
{
    struct result *res = ud;
    res->done = 1;
    res->err = err;
    snprintf(res->error_text, sizeof(res->error_text), "%s", gw_fetch_error_text(f));
}

static const struct gw_fetch_cbs cbs = {.on_headers = t_headers, .on_data = t_data, .on_done = t_done};

/* Fetch from an origin answering `head`; the loop is closed clean after. */
static struct result fetch_head(const char *head)
{
    struct server s;
    server_start(&s, head);
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct gw_origin *o = gw_origin_new(&loop, NULL);
    ck_assert_ptr_nonnull(o);
    struct result res = {0};
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
    struct gw_fetch *f = gw_fetch_new(o, "GET", url, &cbs, &res);
    ck_assert_int_eq(gw_fetch_start(f), 0);
    /* Bounded: Check's timeout ends a hang; at most this many turns. */
    for (int i = 0; i < 100000 && !res.done; i++) uv_run(&loop, UV_RUN_ONCE);
    ck_assert_msg(res.done, "the fetch never ended");
    gw_origin_close(o);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    pthread_join(s.th, NULL);
    close(s.fd);
    return res;
}

static unsigned long long bad_header_count(void)
{
    struct gw_buf b = {0};
    gw_stats_render(&b);
    const char *p = strstr(b.data, "swiftgate_errors_total{kind=\"bad_origin_header\"} ");
    ck_assert_ptr_nonnull(p);
    unsigned long long n = strtoull(strchr(p, '}') + 2, NULL, 10);
    gw_buf_free(&b);
    return n;
}

static const char *const refused[] = {
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\rX-Evil: 1\r\n",   /* CR inside */
    "HTTP/1.1 200 OK\r\nETag: \"ab\x01" "cd\"\r\n",                 /* 0x01 */
    "HTTP/1.1 200 OK\r\nX-Foo: a\x7f" "b\r\n",                      /* DEL */
    "HTTP/1.1 200 OK\r\nLast-Modified: Mon\\0 Tue\r\n",             /* NUL: curl's refusal */
    "HTTP/1.1 200 OK\r\nX-Foo: a\r\n b\r\n",                        /* obs-fold */
    "HTTP/1.1 200 OK\r\nX-Foo: a\r\r\n",                            /* a CR before CRLF */
    "HTTP/1.1 200 OK\r\nX-Foo: \x1b[2J\r\n",                        /* ESC */
};

START_TEST(bad_value_fails_the_fetch)
{
    gw_stats_init(0);
    const char *head = refused[_i];
    unsigned long long before = bad_header_count();
    struct result res = fetch_head(head);
    ck_assert_msg(res.err == GW_EBADHEADER, "case %d: err %d (%s)", _i, res.err,
                  res.error_text);
    ck_assert_msg(res.headers_called == 0, "case %d: on_headers was called", _i);
    ck_assert_uint_eq(bad_header_count(), before + 1);
    gw_stats_free();
}
END_TEST

START_TEST(good_values_are_kept)
{
    gw_stats_init(0);
    /* UTF-8 (obs-text), an inner tab, trailing blanks, a bare LF line end. */
    struct result res = fetch_head("HTTP/1.1 200 OK\r\nContent-Type: caf\xc3\xa9 \t\r\n"
                                   "X-Foo: a\tb\nX-Bar:   c  \r\n");
    ck_assert_int_eq(res.err, 0);
    ck_assert_int_eq(res.headers_called, 200);
    ck_assert_str_eq(res.content_type, "caf\xc3\xa9");
    ck_assert_str_eq(res.x_foo, "a\tb");
    ck_assert_str_eq(res.x_bar, "c");
    ck_assert_uint_eq(bad_header_count(), 0);
    gw_stats_free();
}
END_TEST

START_TEST(bad_header_is_named)
{
    gw_stats_init(0);
    struct result res = fetch_head(refused[0]);
    ck_assert_int_eq(res.err, GW_EBADHEADER);
    ck_assert_ptr_nonnull(strstr(res.error_text, "\"Content-Type\""));
    gw_stats_free();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("origin");
    TCase *t = tcase_create("headers");
    tcase_add_test(t, field_value_bytes);
    tcase_add_loop_test(t, bad_value_fails_the_fetch, 0,
                        (int)(sizeof(refused) / sizeof(refused[0])));
    tcase_add_test(t, good_values_are_kept);
    tcase_add_test(t, bad_header_is_named);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return unit_run(suite()) == 0 ? 0 : 1;
}

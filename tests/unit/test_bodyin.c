/*
 * test_bodyin.c - a streamed request body (gateway/bodyin.c and
 * gw_http_feed_body): the handler never gets more than its room, gets the
 * body byte for byte however it is framed, and end() comes once, with the
 * right status for a body cut short, too large or badly chunked; what
 * follows the body stays for the next request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bodyin.h"
#include "http.h"
#include "sink.h"
#include "stash.h"
#include "unit.h"
#include "util.h"

struct handler {
    size_t room;                /* what room() says */
    char got[4096];
    size_t len;
    int ends, status;
    const char *reason;
    size_t max_piece;           /* the largest data() call */
};

static size_t h_room(void *ud)
{
    struct handler *h = ud;
    return h->room;
}

static void h_data(void *ud, const char *buf, size_t len)
{
    struct handler *h = ud;
    ck_assert_uint_le(len, h->room);
    ck_assert_uint_le(h->len + len, sizeof(h->got));
    memcpy(h->got + h->len, buf, len);
    h->len += len;
    h->room -= len;
    if (len > h->max_piece) h->max_piece = len;
}

static void h_end(void *ud, int status, const char *reason)
{
    struct handler *h = ud;
    h->ends++;
    h->status = status;
    h->reason = reason;
}

static const struct gw_sink_body cbs = {.room = h_room, .data = h_data, .end = h_end};

struct conn {
    llhttp_t p;
    struct gw_http_req r;
    struct gw_stash st;
    struct gw_body_in b;
    struct handler h;
};

/* A parser as a connection has it, streaming PUT bodies up to max_upload. */
static void parser_init(llhttp_t *p, struct gw_http_req *r, uint64_t max_upload)
{
    gw_http_req_init(r, 4096, 32, 1024, 1024);
    r->max_upload = max_upload;
    llhttp_init(p, HTTP_REQUEST, &gw_http_settings);
    p->data = r;
}

/* Parse the head of `wire`, stash the rest as read, start the body. */
static void open_conn(struct conn *c, const char *wire, size_t len, uint64_t max_upload)
{
    memset(c, 0, sizeof(*c));
    parser_init(&c->p, &c->r, max_upload);
    size_t used;
    ck_assert_int_eq(gw_http_feed(&c->p, &c->r, wire, len, &used), GW_HTTP_HEAD);
    ck_assert(c->r.body_streams);
    gw_stash_keep(&c->st, wire, wire + used, len - used);
    c->b.state = GW_BODY_WAITING;
    ck_assert_int_eq(gw_body_in_start(&c->b, &c->r, &cbs, &c->h), 0);
}

static void close_conn(struct conn *c)
{
    gw_stash_free(&c->st);
    gw_http_req_free(&c->r);
}

/* Pump with room `step` at a time until the body ends (bounded). */
static void pump_all(struct conn *c, size_t step, int eof)
{
    for (int i = 0; i < 10000 && c->b.state == GW_BODY_READING; i++) {
        c->h.room = step;
        size_t before = c->st.len;
        gw_body_in_pump(&c->b, &c->p, &c->r, &c->st, eof);
        if (c->st.len == before && c->b.state == GW_BODY_READING && c->h.room == step) break;
    }
}

/* The body of wire pumped whole with room to spare: the status end() got
 * (once), and the body bytes the handler took into *got. */
static int end_status(const char *wire, uint64_t max_upload, size_t *got)
{
    struct conn c;
    open_conn(&c, wire, strlen(wire), max_upload);
    pump_all(&c, 100, 0);
    ck_assert_int_eq(c.h.ends, 1);
    *got = c.h.len;
    close_conn(&c);
    return c.h.status;
}

START_TEST(chunked_in_small_rooms)
{
    static const char wire[] = "PUT /fractal/x HTTP/1.1\r\nHost: h\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
                               "GET / HTTP/1.1\r\n\r\n";
    struct conn c;
    open_conn(&c, wire, sizeof(wire) - 1, 1 << 20);
    pump_all(&c, 3, 0);
    ck_assert_int_eq(c.h.ends, 1);
    ck_assert_int_eq(c.h.status, 0);
    ck_assert_uint_eq(c.h.len, 12);
    ck_assert(memcmp(c.h.got, "hello, world", 12) == 0);
    ck_assert_uint_le(c.h.max_piece, 3);
    ck_assert(gw_body_in_clean(&c.b));
    /* The next request is left in the stash, whole. */
    ck_assert_uint_eq(c.st.len, 18);
    ck_assert(memcmp(gw_stash_data(&c.st), "GET / HTTP/1.1\r\n\r\n", 18) == 0);
    close_conn(&c);
}
END_TEST

/* One pump never stops with room left and bytes stashed: nothing would wake it. */
START_TEST(one_pump_uses_all_room)
{
    char wire[2048];
    int n = snprintf(wire, sizeof(wire), "PUT /x HTTP/1.1\r\nHost: h\r\n"
                                         "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 200; i++) n += snprintf(wire + n, sizeof(wire) - (size_t)n, "1\r\na\r\n");
    struct conn c;
    open_conn(&c, wire, (size_t)n, 1 << 20);
    c.h.room = 100;
    gw_body_in_pump(&c.b, &c.p, &c.r, &c.st, 0);
    ck_assert(c.h.room == 0 || c.st.len == 0);
    ck_assert_uint_eq(c.h.len, 100);
    close_conn(&c);
}
END_TEST

START_TEST(no_room_takes_nothing)
{
    static const char wire[] = "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd";
    struct conn c;
    open_conn(&c, wire, sizeof(wire) - 1, 100);
    c.h.room = 0;
    ck_assert_uint_eq(gw_body_in_pump(&c.b, &c.p, &c.r, &c.st, 0), 0);
    ck_assert_uint_eq(c.h.len, 0);
    ck_assert_int_eq(c.h.ends, 0);
    /* A stall while the handler has no room is not the client's. */
    ck_assert_int_eq(gw_body_in_stalled(&c.b), 0);
    pump_all(&c, 100, 0);
    ck_assert_int_eq(c.h.ends, 1);
    ck_assert_int_eq(c.h.status, 0);
    ck_assert_uint_eq(c.h.len, 4);
    close_conn(&c);
}
END_TEST

START_TEST(empty_body_ends_at_once)
{
    size_t got;
    ck_assert_int_eq(end_status("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
                                100, &got), 0);
    ck_assert_uint_eq(got, 0);
}
END_TEST

START_TEST(cut_short_is_400)
{
    static const char wire[] = "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc";
    struct conn c;
    open_conn(&c, wire, sizeof(wire) - 1, 100);
    pump_all(&c, 100, 0);
    ck_assert_int_eq(c.h.ends, 0);
    pump_all(&c, 100, 1); /* the client's EOF */
    ck_assert_int_eq(c.h.ends, 1);
    ck_assert_int_eq(c.h.status, 400);
    ck_assert(!gw_body_in_clean(&c.b));
    close_conn(&c);
}
END_TEST

START_TEST(chunked_past_max_upload_is_413)
{
    size_t got;
    ck_assert_int_eq(end_status("PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", 10, &got),
                     413);
    ck_assert_uint_le(got, 10);
}
END_TEST

START_TEST(bad_chunk_is_400_and_stall_is_408)
{
    size_t got;
    ck_assert_int_eq(end_status("PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "zz\r\n", 100, &got), 400);

    struct conn c;
    static const char slow[] = "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
    open_conn(&c, slow, sizeof(slow) - 1, 100);
    c.h.room = 100;
    ck_assert_int_eq(gw_body_in_stalled(&c.b), 1);
    ck_assert_int_eq(c.h.ends, 1);
    ck_assert_int_eq(c.h.status, 408);
    close_conn(&c);
}
END_TEST

START_TEST(content_length_over_max_upload_is_refused_at_the_head)
{
    static const char wire[] = "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";
    struct gw_http_req r;
    llhttp_t p;
    parser_init(&p, &r, 10);
    size_t used;
    ck_assert_int_eq(gw_http_feed(&p, &r, wire, sizeof(wire) - 1, &used), GW_HTTP_ERROR);
    ck_assert_int_eq(r.error_status, 413);
    gw_http_req_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bodyin");
    TCase *t = tcase_create("bodyin");
    tcase_set_timeout(t, 10);
    tcase_add_test(t, chunked_in_small_rooms);
    tcase_add_test(t, no_room_takes_nothing);
    tcase_add_test(t, one_pump_uses_all_room);
    tcase_add_test(t, empty_body_ends_at_once);
    tcase_add_test(t, cut_short_is_400);
    tcase_add_test(t, chunked_past_max_upload_is_413);
    tcase_add_test(t, bad_chunk_is_400_and_stall_is_408);
    tcase_add_test(t, content_length_over_max_upload_is_refused_at_the_head);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return unit_run(suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

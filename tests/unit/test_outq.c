/*
 * test_outq.c - the output queue against a real loopback TCP connection:
 * memory and file ranges arrive in order and byte-exact, the budget and a
 * full socket stop a send where they should, a file shorter than its
 * range is an error, and everything queued is released exactly once.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "outq.h"
#include "unit.h"
#include "util.h"

static int released;

static void count_release(void *arg)
{
    (void)arg;
    released++;
}

/* A connected pair: *snd non-blocking (the queue's side), *rcv blocking. */
static void tcp_pair(int *snd, int *rcv)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
    *snd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(*snd, (struct sockaddr *)&a, sizeof(a)), 0);
    *rcv = accept(l, NULL, NULL);
    ck_assert_int_ge(*rcv, 0);
    close(l);
    fcntl(*snd, F_SETFL, fcntl(*snd, F_GETFL) | O_NONBLOCK);
}

/* A temp file of n pattern bytes; its bytes in *data (caller frees). */
static int pattern_file(size_t n, unsigned char **data)
{
    char path[] = "/tmp/swiftgate-outq-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    unsigned char *d = malloc(n);
    for (size_t i = 0; i < n; i++) d[i] = (unsigned char)(i * 13 + i / 997);
    ck_assert_int_eq(write(fd, d, n), (ssize_t)n);
    *data = d;
    return fd;
}

static void read_exact(int fd, unsigned char *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, out + got, n - got);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
}

START_TEST(memory_and_files_arrive_in_order)
{
    int s, r;
    tcp_pair(&s, &r);
    unsigned char *data;
    int fd = pattern_file(200000, &data);
    struct gw_outq q;
    gw_outq_init(&q);
    released = 0;
    gw_outq_push_copy(&q, "HEAD", 4);
    gw_outq_push_copy(&q, "ER\r\n", 4);
    gw_outq_push_file(&q, fd, 1000, 100000, count_release, NULL);
    char *taken = strdup("--mid--");
    gw_outq_push_taken(&q, taken, 7);
    gw_outq_push_file(&q, fd, 0, 10, count_release, NULL);
    gw_outq_push_file(&q, fd, 5, 0, count_release, NULL); /* empty: released at once */
    ck_assert_int_eq(released, 1);
    ck_assert_int_eq(q.bytes, 8 + 100000 + 7 + 10);
    uint64_t sent;
    ck_assert_int_eq(gw_outq_send(&q, s, UINT64_MAX, &sent), 0);
    ck_assert_int_eq(sent, 100025);
    ck_assert_int_eq(q.bytes, 0);
    ck_assert_int_eq(released, 3);
    unsigned char *got = malloc(100025);
    read_exact(r, got, 100025);
    ck_assert(memcmp(got, "HEADER\r\n", 8) == 0);
    ck_assert(memcmp(got + 8, data + 1000, 100000) == 0);
    ck_assert(memcmp(got + 100008, "--mid--", 7) == 0);
    ck_assert(memcmp(got + 100015, data, 10) == 0);
    free(got);
    free(data);
    close(fd);
    close(s);
    close(r);
}
END_TEST

START_TEST(copies_after_a_taken_buffer_keep_their_place)
{
    int s, r;
    tcp_pair(&s, &r);
    struct gw_outq q;
    gw_outq_init(&q);
    gw_outq_push_copy(&q, "1", 1);
    gw_outq_push_taken(&q, strdup("abc"), 3);
    gw_outq_push_copy(&q, "def", 3);
    gw_outq_push_copy(&q, "g", 1);
    uint64_t sent;
    ck_assert_int_eq(gw_outq_send(&q, s, UINT64_MAX, &sent), 0);
    ck_assert_int_eq(sent, 8);
    char got[9] = {0};
    read_exact(r, (unsigned char *)got, 8);
    ck_assert_str_eq(got, "1abcdefg");
    close(s);
    close(r);
}
END_TEST

START_TEST(budget_stops_a_send_and_the_rest_follows)
{
    int s, r;
    tcp_pair(&s, &r);
    unsigned char *data;
    int fd = pattern_file(1 << 20, &data);
    struct gw_outq q;
    gw_outq_init(&q);
    released = 0;
    gw_outq_push_file(&q, fd, 0, 1 << 20, count_release, NULL);
    uint64_t sent, total = 0;
    int rc = gw_outq_send(&q, s, 100000, &sent);
    ck_assert_int_ne(rc, 0);
    ck_assert_int_gt(sent, 0);
    ck_assert_int_le(sent, 100000);
    ck_assert_int_eq(q.bytes, (1 << 20) - sent);
    total += sent;
    unsigned char *got = malloc(1 << 20);
    size_t have = 0;
    for (int i = 0; i < 10000 && rc != 0; i++) {
        ssize_t n = read(r, got + have, (1 << 20) - have); /* make room */
        ck_assert_int_gt(n, 0);
        have += (size_t)n;
        rc = gw_outq_send(&q, s, 100000, &sent);
        ck_assert(rc >= 0);
        total += sent;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(total, 1 << 20);
    ck_assert_int_eq(released, 1);
    read_exact(r, got + have, (1 << 20) - have);
    ck_assert(memcmp(got, data, 1 << 20) == 0);
    free(got);
    free(data);
    close(fd);
    close(s);
    close(r);
}
END_TEST

START_TEST(full_socket_says_again)
{
    int s, r;
    tcp_pair(&s, &r);
    int small = 4096;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(r, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    unsigned char *data;
    int fd = pattern_file(4 << 20, &data);
    struct gw_outq q;
    gw_outq_init(&q);
    gw_outq_push_copy(&q, "x", 1);
    gw_outq_push_file(&q, fd, 0, 4 << 20, count_release, NULL);
    uint64_t sent;
    /* Nobody reads: the socket fills and the queue says so, keeping the rest. */
    ck_assert_int_eq(gw_outq_send(&q, s, UINT64_MAX, &sent), GW_OUTQ_AGAIN);
    ck_assert_int_lt(sent, (4 << 20) + 1);
    ck_assert_int_eq(q.bytes, (4 << 20) + 1 - sent);
    ck_assert_int_eq(gw_outq_send(&q, s, UINT64_MAX, &sent), GW_OUTQ_AGAIN);
    ck_assert_int_eq(sent, 0);
    released = 0;
    gw_outq_clear(&q);
    ck_assert_int_eq(released, 1);
    ck_assert_int_eq(q.bytes, 0);
    ck_assert_ptr_null(q.head);
    free(data);
    close(fd);
    close(s);
    close(r);
}
END_TEST

START_TEST(file_shorter_than_its_range_is_an_error)
{
    int s, r;
    tcp_pair(&s, &r);
    unsigned char *data;
    int fd = pattern_file(1000, &data);
    struct gw_outq q;
    gw_outq_init(&q);
    released = 0;
    gw_outq_push_file(&q, fd, 500, 1000, count_release, NULL);
    uint64_t sent;
    int rc = gw_outq_send(&q, s, UINT64_MAX, &sent);
    if (rc == GW_OUTQ_AGAIN) rc = gw_outq_send(&q, s, UINT64_MAX, &sent);
    ck_assert_int_eq(rc, -EIO);
    gw_outq_clear(&q);
    ck_assert_int_eq(released, 1);
    free(data);
    close(fd);
    close(s);
    close(r);
}
END_TEST

START_TEST(a_closed_peer_is_an_error)
{
    int s, r;
    tcp_pair(&s, &r);
    close(r);
    struct gw_outq q;
    gw_outq_init(&q);
    char block[65536] = {0};
    uint64_t sent;
    int rc = 0;
    /* The first send may be taken before the RST comes back; a later one fails. */
    for (int i = 0; i < 100 && rc >= 0; i++) {
        gw_outq_push_copy(&q, block, sizeof(block));
        rc = gw_outq_send(&q, s, UINT64_MAX, &sent);
        if (rc >= 0) poll(NULL, 0, 2);
    }
    ck_assert(rc == -EPIPE || rc == -ECONNRESET);
    gw_outq_clear(&q);
    close(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("outq");
    TCase *t = tcase_create("send");
    tcase_add_test(t, memory_and_files_arrive_in_order);
    tcase_add_test(t, copies_after_a_taken_buffer_keep_their_place);
    tcase_add_test(t, budget_stops_a_send_and_the_rest_follows);
    tcase_add_test(t, full_socket_says_again);
    tcase_add_test(t, file_shorter_than_its_range_is_an_error);
    tcase_add_test(t, a_closed_peer_is_an_error);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return unit_run(suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

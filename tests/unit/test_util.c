/*
 * test_util.c - the error log: every event is one line, whatever the
 * names in it hold (a newline or an escape in an object name from a
 * manifest, a client's URL), and a message too long for a line is cut
 * before its newline, not instead of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "util.h"

/* What gw_warn(module, "%s", msg) writes to stderr. */
static char *logged(const char *msg)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    int saved = dup(2);
    dup2(fds[1], 2);
    gw_warn("test", "segment %s: gone", msg);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    char *out = calloc(1, 8192);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], out + n, 8191 - n)) > 0) n += (size_t)r;
    close(fds[0]);
    return out;
}

static int count(const char *s, char c)
{
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

START_TEST(control_bytes_cannot_forge_a_line)
{
    char *out = logged("a/b\n2026-01-01T00:00:00.000Z [1] E forged: yes\r\x1b[2J");
    ck_assert_int_eq(count(out, '\n'), 1);
    ck_assert_ptr_nonnull(strstr(out, " W test: segment a/b\\x0a2026-01-01T00:00:00.000Z "
                                      "[1] E forged: yes\\x0d\\x1b[2J: gone\n"));
    free(out);
}
END_TEST

START_TEST(plain_text_is_untouched)
{
    char *out = logged("fractals_segments/caf\xc3\xa9/001 \"quoted\" 50%");
    ck_assert_ptr_nonnull(
        strstr(out, " W test: segment fractals_segments/caf\xc3\xa9/001 \"quoted\" 50%: gone\n"));
    free(out);
}
END_TEST

START_TEST(a_long_message_keeps_its_newline)
{
    char big[5000];
    memset(big, '\n', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *out = logged(big);
    ck_assert_int_eq(count(out, '\n'), 1);
    ck_assert(out[strlen(out) - 1] == '\n');
    free(out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("util");
    TCase *t = tcase_create("log");
    tcase_add_test(t, control_bytes_cannot_forge_a_line);
    tcase_add_test(t, plain_text_is_untouched);
    tcase_add_test(t, a_long_message_keeps_its_newline);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return unit_run(suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

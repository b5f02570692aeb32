/*
 * test_cli.c - what the client commands share on their command lines
 * (cli.c): an option in each of its spellings, the options of a run and
 * their bounds (a bad value is refused with one line naming the option),
 * and untrusted text made fit for a message (no password, no control
 * byte, one line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "unit.h"

/* Room for the arguments: the options keep pointers into argv, as into a process's. */
static char arg_pool[32][64];
static size_t args_used;

static char *arg(const char *s)
{
    ck_assert(args_used < 32 && strlen(s) < 64);
    return strcpy(arg_pool[args_used++], s);
}

/* gw_cli_run_option() on "a [b]"; *matched and the result; stderr into err. */
static int run_option(struct gw_cli_opts *o, const char *a, const char *b, int *matched,
                      char *err, size_t cap)
{
    char *argv[2] = {arg(a), b ? arg(b) : NULL};
    int argc = b ? 2 : 1;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fds[1], 2);
    int i = 0;
    int rc = gw_cli_run_option("test", o, argc, argv, &i, matched);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], err, cap - 1);
    err[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    return rc;
}

START_TEST(jobs_in_every_spelling)
{
    const char *spellings[][2] = {{"-j", "12"}, {"-j12", NULL}, {"--concurrency", "12"},
                            {"--concurrency=12", NULL}};
    for (size_t k = 0; k < sizeof(spellings) / sizeof(spellings[0]); k++) {
        struct gw_cli_opts o;
        gw_cli_opts_init(&o, 8);
        int matched;
        char err[256];
        ck_assert_int_eq(
            run_option(&o, spellings[k][0], spellings[k][1], &matched, err, sizeof(err)), 0);
        ck_assert(matched);
        ck_assert_int_eq(o.jobs, 12);
        ck_assert_str_eq(err, "");
    }
}
END_TEST

START_TEST(bad_values_are_refused_with_one_line)
{
    const char *bad[][2] = {{"-j", "0"},         {"-j", "257"},          {"-j", "many"},
                      {"-j", NULL},        {"--timeout", "soon"},  {"--timeout", "0"},
                      {"--report", ""},    {"--from-api", "ftp://x"},
                      {"--progress-interval", "-1"}};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        struct gw_cli_opts o;
        gw_cli_opts_init(&o, 8);
        int matched;
        char err[256];
        ck_assert_int_eq(run_option(&o, bad[k][0], bad[k][1], &matched, err, sizeof(err)), -1);
        ck_assert(matched);
        ck_assert_msg(strncmp(err, "test: ", 6) == 0 && strstr(err, bad[k][0]) &&
                          strchr(err, '\n') == err + strlen(err) - 1,
                      "%s %s: %s", bad[k][0], bad[k][1] ? bad[k][1] : "", err);
        ck_assert_int_eq(o.jobs, 8);
    }
}
END_TEST

START_TEST(run_options_set_what_they_name)
{
    struct gw_cli_opts o;
    gw_cli_opts_init(&o, 8);
    ck_assert_int_eq(o.timeout_ms, 60000);
    ck_assert_int_eq(o.interval_ms, -1);
    const char *args[][2] = {{"--timeout", "500ms"}, {"--progress-interval", "0.5"},
                       {"--report", "r.txt"},  {"--from-api", "http://api:8000/"},
                       {"--summary-json", NULL}};
    for (size_t k = 0; k < sizeof(args) / sizeof(args[0]); k++) {
        int matched;
        char err[256];
        ck_assert_int_eq(run_option(&o, args[k][0], args[k][1], &matched, err, sizeof(err)), 0);
        ck_assert(matched);
    }
    ck_assert_int_eq(o.timeout_ms, 500);
    ck_assert_int_eq(o.interval_ms, 500);
    ck_assert_str_eq(o.report_path, "r.txt");
    ck_assert_str_eq(o.api, "http://api:8000/");
    ck_assert(o.summary_json);
    /* Not one of them: not matched, nothing said. */
    int matched = 1;
    char err[256];
    ck_assert_int_eq(run_option(&o, "--via-get", NULL, &matched, err, sizeof(err)), 0);
    ck_assert(!matched);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(shown_hides_passwords_and_escapes_bytes)
{
    char out[512];
    const char *url = "http://user:secret@api:8000/v1/fractal";
    gw_cli_shown(out, sizeof(out), url, strlen(url));
    ck_assert_str_eq(out, "http://***@api:8000/v1/fractal");
    gw_cli_shown(out, sizeof(out), "a\nb\x7f", 4);
    ck_assert_str_eq(out, "a\\x0ab\\x7f");
    char big[400];
    memset(big, 'x', sizeof(big));
    gw_cli_shown(out, sizeof(out), big, sizeof(big));
    ck_assert(strlen(out) < 120 && strstr(out, "...") != NULL);
}
END_TEST

START_TEST(first_line_of_an_error_body)
{
    char out[16];
    gw_cli_first_line(out, sizeof(out), "<h1>Bad\x01</h1>\r\nmore", 20);
    ck_assert_str_eq(out, "<h1>Bad?</h1>");
    gw_cli_first_line(out, sizeof(out), "a much longer line than fits", 28);
    ck_assert_int_eq(strlen(out), sizeof(out) - 1);
    gw_cli_first_line(out, sizeof(out), "", 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(base_urls)
{
    char *b = gw_cli_base_url("http://gw:8080//");
    ck_assert_str_eq(b, "http://gw:8080");
    free(b);
    const char *bad[] = {"gw:8080", "http://", "http:///x", "http://gw/?q", "http://g w"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        ck_assert_msg(gw_cli_base_url(bad[k]) == NULL, "%s", bad[k]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli");
    TCase *t = tcase_create("options");
    tcase_add_test(t, jobs_in_every_spelling);
    tcase_add_test(t, bad_values_are_refused_with_one_line);
    tcase_add_test(t, run_options_set_what_they_name);
    tcase_add_test(t, base_urls);
    suite_add_tcase(s, t);
    t = tcase_create("text");
    tcase_add_test(t, shown_hides_passwords_and_escapes_bytes);
    tcase_add_test(t, first_line_of_an_error_body);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return unit_run(suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * test_conf_reload.c - unit tests of gw_conf_reload() (gateway/conf.c): a
 * reload reads the file with the same checks as a start, keeps the running
 * value of every key that needs a restart, and names each key that
 * changed, once, in table order.
 *
 * Each test runs in its own process (CK_FORK).  Files are written with
 * mkstemp() into one temporary directory that main() creates and removes.
 */
#include "conf.h"
#include "conf_int.h"
#include "util.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"

static char tmpdir[256];

#define BASE                                                                \
    "[server]\nlisten = 127.0.0.1:0\nworkers = 2\n"                         \
    "[swift]\nauth_url = http://127.0.0.1:8080/auth/v1.0\n"                 \
    "user = test:tester\nkey = testing\n"                                   \
    "[cache]\ndir = /tmp/cache-a\nttl = 1h\n"

/* What the note callback was told, one "section.name:restart:was:now;" each. */
struct notes {
    char text[2048];
    int n;
};

static void note(void *ud, const struct gw_conf_change *ch)
{
    struct notes *ns = ud;
    size_t used = strlen(ns->text);
    snprintf(ns->text + used, sizeof(ns->text) - used, "%s.%s:%d:%s:%s;", ch->section,
             ch->name, ch->restart, ch->was, ch->now);
    ns->n++;
}

static void write_conf(const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/conf-XXXXXX", tmpdir);
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* Load BASE as the running configuration, then reload text over it. */
static int reload_over(const char *text, struct gw_conf *running, struct gw_conf *next,
                       struct notes *ns, char *err, size_t errlen)
{
    char path[300];
    write_conf(BASE, path, sizeof(path));
    ck_assert_int_eq(gw_conf_load(running, path, err, errlen), 0);
    write_conf(text, path, sizeof(path));
    memset(ns, 0, sizeof(*ns));
    return gw_conf_reload(next, path, running, note, ns, err, errlen);
}

START_TEST(test_same_file_changes_nothing)
{
    struct gw_conf a, b;
    struct notes ns;
    char err[512];
    ck_assert_int_eq(reload_over(BASE, &a, &b, &ns, err, sizeof(err)), 0);
    ck_assert_int_eq(ns.n, 0);
    ck_assert_str_eq(ns.text, "");
    gw_conf_free(&a);
    gw_conf_free(&b);
}
END_TEST

START_TEST(test_live_keys_change)
{
    struct gw_conf a, b;
    struct notes ns;
    char err[512];
    int rc = reload_over(BASE "cache_control = no-cache\n"
                              "[cors]\nallow_origin = https://app.example.com\n",
                         &a, &b, &ns, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(b.cache_control, "no-cache");
    ck_assert_str_eq(b.cors_allow_origin, "https://app.example.com");
    ck_assert_int_eq(ns.n, 2);
    gw_conf_free(&a);
    gw_conf_free(&b);
}
END_TEST

START_TEST(test_changes_are_named_in_table_order)
{
    struct gw_conf a, b;
    struct notes ns;
    char err[512];
    const char *text =
        "[server]\nlisten = 127.0.0.1:0\nworkers = 2\nlog_level = debug\n"
        "[swift]\nauth_url = http://127.0.0.1:8080/auth/v1.0\n"
        "user = test:tester\nkey = other\n"
        "[cache]\ndir = /tmp/cache-a\nttl = 5m\ncache_control = no-cache\n";
    int rc = reload_over(text, &a, &b, &ns, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(ns.n, 4);
    ck_assert_str_eq(ns.text, "server.log_level:0:info:debug;"
                              "swift.key:0:(set):(set);"
                              "cache.ttl:0:1h:5m;"
                              "cache.cache_control:0:public, max-age=31536000, immutable:no-cache;");
    ck_assert_str_eq(b.key, "other");
    gw_conf_free(&a);
    gw_conf_free(&b);
}
END_TEST

START_TEST(test_restart_keys_keep_running_values)
{
    struct gw_conf a, b;
    struct notes ns;
    char err[512];
    const char *text =
        "[server]\nlisten = 127.0.0.1:9999\nworkers = 3\n"
        "[swift]\nauth_url = http://127.0.0.1:8080/auth/v1.0\n"
        "user = test:tester\nkey = testing\ncontainer = other\n"
        "[cache]\ndir = /tmp/cache-b\nmax_size = 1G\nttl = 1h\n";
    int rc = reload_over(text, &a, &b, &ns, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(ns.text, "server.listen:1:127.0.0.1:0:127.0.0.1:9999;"
                              "server.workers:1:2:3;"
                              "swift.container:1:fractals:other;"
                              "cache.dir:1:/tmp/cache-a:/tmp/cache-b;"
                              "cache.max_size:1:10G:1G;");
    ck_assert_str_eq(b.listen, "127.0.0.1:0");
    ck_assert_int_eq(b.workers, 2);
    ck_assert_str_eq(b.container, "fractals");
    ck_assert_str_eq(b.dir, "/tmp/cache-a");
    ck_assert_uint_eq(b.max_size, a.max_size);
    /* What is derived from kept keys is derived from the kept values. */
    ck_assert_uint_eq(b.max_object_size, a.max_object_size);
    ck_assert_str_eq(b.segment_containers, "fractals, fractals_segments");
    gw_conf_free(&a);
    gw_conf_free(&b);
}
END_TEST

START_TEST(test_bad_file_names_line_and_notes_nothing)
{
    struct gw_conf a, b;
    struct notes ns;
    char err[512], want[600];
    int rc = reload_over(BASE "cache_control = no-cache\nnegative_ttl = soon\n", &a, &b, &ns,
                         err, sizeof(err));
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(ns.n, 0);
    snprintf(want, sizeof(want), ":12: negative_ttl: ");
    ck_assert_msg(strstr(err, want) != NULL, "error: %s", err);
    ck_assert_msg(strncmp(err, tmpdir, strlen(tmpdir)) == 0, "error: %s", err);
    gw_conf_free(&a);
    gw_conf_free(&b);
}
END_TEST

START_TEST(test_syntax_error_is_refused)
{
    struct gw_conf a, b;
    struct notes ns;
    char err[512];
    int rc = reload_over(BASE "this is not a key\n", &a, &b, &ns, err, sizeof(err));
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(ns.n, 0);
    ck_assert_msg(strstr(err, ":11: syntax error") != NULL, "error: %s", err);
    gw_conf_free(&a);
    gw_conf_free(&b);
}
END_TEST

/* A bad value of a key that needs a restart still refuses the file. */
START_TEST(test_bad_restart_key_is_refused)
{
    struct gw_conf a, b;
    struct notes ns;
    char err[512];
    const char *text = "[server]\nlisten = 127.0.0.1:0\nworkers = many\n";
    int rc = reload_over(text, &a, &b, &ns, err, sizeof(err));
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(ns.n, 0);
    ck_assert_msg(strstr(err, ":3: workers: ") != NULL, "error: %s", err);
    gw_conf_free(&a);
    gw_conf_free(&b);
}
END_TEST

/* The environment is read again, as at start, and wins over the file. */
START_TEST(test_env_still_wins)
{
    struct gw_conf a, b;
    struct notes ns;
    char err[512];
    setenv("SWIFTGATE_CACHE_TTL", "2m", 1);
    int rc = reload_over(BASE, &a, &b, &ns, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(b.ttl_ms, 2 * 60 * 1000);
    ck_assert_int_eq(ns.n, 0);
    gw_conf_free(&a);
    gw_conf_free(&b);
}
END_TEST

/*
 * conf/swiftgate.conf says "Needs a restart." in the comment above exactly
 * the keys a reload keeps (GW_CONF_RESTART), and every key is there.
 */
START_TEST(test_shipped_conf_marks_restart_keys)
{
    const char *dir = getenv("CONF_DIR");
    char path[512], line[512], section[32] = "", block[4096] = "";
    int seen[GW_CONF_NKEYS] = {0};
    snprintf(path, sizeof(path), "%s/swiftgate.conf", dir ? dir : "conf");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL) {
        char name[64];
        if (line[0] == '\n') {
            block[0] = '\0';
        } else if (line[0] == '#') {
            strncat(block, line, sizeof(block) - strlen(block) - 1);
        } else if (sscanf(line, "[%31[a-z]]", section) == 1) {
            block[0] = '\0';
        } else if (sscanf(line, "%63[a-z_] =", name) == 1) {
            size_t i = 0;
            while (i < GW_CONF_NKEYS && (strcmp(gw_conf_keys[i].section, section) != 0 ||
                                         strcmp(gw_conf_keys[i].name, name) != 0))
                i++;
            ck_assert_msg(i < GW_CONF_NKEYS, "[%s] %s: not a key", section, name);
            int marked = strstr(block, "# Needs a restart.") != NULL;
            int restart = (gw_conf_keys[i].flags & GW_CONF_RESTART) != 0;
            ck_assert_msg(marked == restart, "[%s] %s: marked %d, reload keeps it %d", section,
                          name, marked, restart);
            seen[i] = 1;
            block[0] = '\0';
        }
    }
    fclose(f);
    /* The Keystone and static keys are shown commented out: all reload. */
    for (size_t i = 0; i < GW_CONF_NKEYS; i++)
        ck_assert_msg(seen[i] || !(gw_conf_keys[i].flags & GW_CONF_RESTART),
                      "[%s] %s needs a restart but is not in %s", gw_conf_keys[i].section,
                      gw_conf_keys[i].name, path);
}
END_TEST

static Suite *reload_suite(void)
{
    Suite *s = suite_create("conf_reload");
    TCase *tc = tcase_create("reload");
    tcase_add_test(tc, test_same_file_changes_nothing);
    tcase_add_test(tc, test_live_keys_change);
    tcase_add_test(tc, test_changes_are_named_in_table_order);
    tcase_add_test(tc, test_restart_keys_keep_running_values);
    tcase_add_test(tc, test_bad_file_names_line_and_notes_nothing);
    tcase_add_test(tc, test_syntax_error_is_refused);
    tcase_add_test(tc, test_bad_restart_key_is_refused);
    tcase_add_test(tc, test_env_still_wins);
    tcase_add_test(tc, test_shipped_conf_marks_restart_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    unit_clear_swiftgate_env();
    return unit_run_in_tmpdir(reload_suite(), "test_conf_reload", tmpdir, sizeof(tmpdir));
}

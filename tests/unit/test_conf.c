/*
 * test_conf.c - unit tests of gateway/conf.c: the value parsers, loading the
 * shipped config, error messages with the right file, line and key,
 * environment overrides and the keys each auth_version requires.
 *
 * Each test runs in its own process (CK_FORK), so setenv() in one test never
 * leaks into another.  Config files are written with mkstemp() into one
 * temporary directory that main() creates and removes, so a failing test
 * leaves nothing behind.  Tests run from the repository root, or with
 * CONF_DIR naming the directory that holds swiftgate.conf.
 */
#include "conf.h"
#include "proxyproto.h"
#include "util.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"

/* Set by main() before any test runs; read-only afterwards. */
static char tmpdir[256];

/* The [swift] keys auth_version = 1 needs, for tests about other things. */
#define SWIFT_V1_KEYS                                                       \
    "auth_url = http://127.0.0.1:8080/auth/v1.0\n"                          \
    "user = test:tester\n"                                                  \
    "key = testing\n"
#define SWIFT_V1 "[swift]\n" SWIFT_V1_KEYS

/* Writes text to a new file in tmpdir; its name goes to path. */
static void write_conf(const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/conf-XXXXXX", tmpdir);
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* Loads text as a config file; err gets the message, path the file name. */
static int load_text(const char *text, struct gw_conf *c, char *path, size_t pathlen,
                     char *err, size_t errlen)
{
    write_conf(text, path, pathlen);
    return gw_conf_load(c, path, err, errlen);
}

/* Loads text and asserts it fails with exactly "PATH" + suffix. */
static void expect_error(const char *text, const char *suffix)
{
    struct gw_conf c;
    char path[300], err[512], want[600];

    int rc = load_text(text, &c, path, sizeof(path), err, sizeof(err));
    snprintf(want, sizeof(want), "%s%s", path, suffix);
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(err, want);
    gw_conf_free(&c);
}

/* ------------------------------------------------------------------------ */

/*
 * The shipped config names no Swift and holds no credentials: as it is, it
 * fails on the first required key; with them from the environment (as the
 * container and the systemd unit give them) it loads.
 */
START_TEST(test_shipped_conf_loads)
{
    const char *dir = getenv("CONF_DIR");
    char path[512], err[512] = "unset", want[600];
    struct gw_conf c;

    snprintf(path, sizeof(path), "%s/swiftgate.conf", dir != NULL ? dir : "conf");
    ck_assert_int_eq(gw_conf_load(&c, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: [swift] auth_url: required when auth_version = 1", path);
    ck_assert_str_eq(err, want);
    gw_conf_free(&c);

    setenv("SWIFTGATE_SWIFT_AUTH_URL", "https://swift.example.com/auth/v1.0", 1);
    ck_assert_int_eq(gw_conf_load(&c, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: [swift] user: required when auth_version = 1", path);
    ck_assert_str_eq(err, want);
    gw_conf_free(&c);

    setenv("SWIFTGATE_SWIFT_USER", "fractals:gateway", 1);
    setenv("SWIFTGATE_SWIFT_KEY", "not-in-the-file", 1);
    int rc = gw_conf_load(&c, path, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: %s", path, err);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(c.path, path);
    ck_assert_int_eq(c.auth_version, GW_AUTH_V1);
    ck_assert_str_eq(c.auth_url, "https://swift.example.com/auth/v1.0");
    ck_assert_str_eq(c.user, "fractals:gateway");
    ck_assert_str_eq(c.key, "not-in-the-file");
    ck_assert_str_eq(c.listen, "0.0.0.0:8080");
    ck_assert_str_eq(c.container, "fractals");
    ck_assert_uint_eq(c.max_size, UINT64_C(10) << 30);
    gw_conf_free(&c);
}
END_TEST

START_TEST(test_defaults)
{
    struct gw_conf c;
    char path[300], err[512];

    ck_assert_int_eq(load_text(SWIFT_V1, &c, path, sizeof(path), err, sizeof(err)), 0);
    ck_assert_str_eq(c.path, path);
    ck_assert_str_eq(c.listen, "0.0.0.0:8080");
    ck_assert_int_eq(c.workers, 0);
    ck_assert_str_eq(c.admin_listen, "127.0.0.1:8081");
    ck_assert_str_eq(c.admin_token, "");
    ck_assert_str_eq(c.access_log, "-");
    ck_assert_str_eq(c.log_level, "info");
    ck_assert_str_eq(c.run_user, "");
    ck_assert_str_eq(c.run_group, "");
    ck_assert_uint_eq(c.max_connections, 10000);
    ck_assert_uint_eq(c.admin_max_connections, 16);
    ck_assert_uint_eq(c.max_memory, 0);
    ck_assert_uint_eq(c.max_header_size, 16384);
    ck_assert_uint_eq(c.max_headers, 100);
    ck_assert_uint_eq(c.max_url_size, 8192);
    ck_assert_uint_eq(c.header_timeout_ms, 30000);
    ck_assert_uint_eq(c.keepalive_timeout_ms, 75000);
    ck_assert_uint_eq(c.send_timeout_ms, 60000);
    ck_assert_uint_eq(c.shutdown_grace_ms, 30000);
    ck_assert_uint_eq(c.write_buffer, 262144);
    ck_assert_str_eq(c.write_token, "");
    ck_assert_uint_eq(c.max_upload_size, 5ull << 30);
    ck_assert_int_eq(c.auth_version, GW_AUTH_V1);
    ck_assert_str_eq(c.user_domain, "Default");
    ck_assert_str_eq(c.project, "");
    ck_assert_str_eq(c.project_domain, "Default");
    ck_assert_str_eq(c.region, "");
    ck_assert_str_eq(c.interface, "public");
    ck_assert_str_eq(c.storage_url, "");
    ck_assert_str_eq(c.token, "");
    ck_assert_str_eq(c.container, "fractals");
    ck_assert_str_eq(c.ca_path, "");
    ck_assert_int_eq(c.tls_verify, 1);
    ck_assert_uint_eq(c.connect_timeout_ms, 5000);
    ck_assert_uint_eq(c.first_byte_timeout_ms, 30000);
    ck_assert_uint_eq(c.stall_timeout_ms, 30000);
    ck_assert_uint_eq(c.max_fetches, 256);
    ck_assert_uint_eq(c.fetch_queue, 4096);
    ck_assert_uint_eq(c.fetch_queue_timeout_ms, 10000);
    ck_assert_str_eq(c.dir, "/var/cache/swiftgate");
    ck_assert_uint_eq(c.max_object_size, UINT64_C(10) << 27);
    ck_assert_uint_eq(c.max_size, UINT64_C(10) << 30);
    ck_assert_uint_eq(c.ttl_ms, 3600000);
    ck_assert_uint_eq(c.negative_ttl_ms, 10000);
    ck_assert_uint_eq(c.stale_while_revalidate_ms, 0);
    ck_assert_uint_eq(c.negative_max_entries, 100000);
    ck_assert_str_eq(c.segment_containers, "fractals, fractals_segments");
    ck_assert_uint_eq(c.max_segments, 10000);
    ck_assert_uint_eq(c.segment_size, UINT64_C(1) << 30);
    ck_assert_uint_eq(c.max_plan_size, UINT64_C(16) << 20);
    ck_assert_uint_eq(c.plan_cache_size, UINT64_C(8) << 20);
    ck_assert_str_eq(c.cache_control, "public, max-age=31536000, immutable");
    ck_assert_str_eq(c.access_log_format, "swiftgate");
    ck_assert_str_eq(c.trusted_proxies, "");
    ck_assert_int_eq(c.proxy_protocol, GW_PROXY_OFF);
    ck_assert_str_eq(c.cors_allow_origin, "");
    ck_assert_uint_eq(c.cors_max_age_ms, 86400000);
    ck_assert_str_eq(c.cors_expose_headers,
                     "ETag, Content-Length, Content-Range, Age, X-Cache, Cache-Status");
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "fractals"), 1);
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "fractals_segments"), 1);
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "fractals_segment"), 0);
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "other"), 0);
    gw_conf_free(&c);
}
END_TEST

/* proxy_protocol takes each of its words, as the versions they name. */
START_TEST(test_proxy_protocol_words)
{
    static const struct { const char *word; int value; } words[] = {
        {"off", GW_PROXY_OFF}, {"v1", GW_PROXY_V1}, {"v2", GW_PROXY_V2}, {"both", GW_PROXY_BOTH},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        struct gw_conf c;
        char path[300], err[512], text[256];
        snprintf(text, sizeof(text), "[server]\nproxy_protocol = %s\n" SWIFT_V1, words[i].word);
        int rc = load_text(text, &c, path, sizeof(path), err, sizeof(err));
        ck_assert_msg(rc == 0, "%s", err);
        ck_assert_int_eq(c.proxy_protocol, words[i].value);
        gw_conf_free(&c);
    }
}
END_TEST

/* The default segment containers follow container; a list replaces them. */
START_TEST(test_segment_containers)
{
    struct gw_conf c;
    char path[300], err[512];
    const char *text =
        "[swift]\n"
        "container = images\n"
        SWIFT_V1_KEYS;
    int rc = load_text(text, &c, path, sizeof(path), err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(c.segment_containers, "images, images_segments");
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "images_segments"), 1);
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "fractals_segments"), 0);
    gw_conf_free(&c);

    text = "[swift]\n"
           "segment_containers =  big ,fractals,  a b \n"
           "max_segments = 5\n"
           SWIFT_V1_KEYS
           "[cache]\n"
           "plan_cache_size = 0\n";
    rc = load_text(text, &c, path, sizeof(path), err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "big"), 1);
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "fractals"), 1);
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "a b"), 1);
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "fractals_segments"), 0);
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, "bi"), 0);
    ck_assert_int_eq(gw_conf_segment_container_ok(&c, ""), 0);
    ck_assert_uint_eq(c.max_segments, 5);
    ck_assert_uint_eq(c.plan_cache_size, 0);
    gw_conf_free(&c);
}
END_TEST

START_TEST(test_values_are_set)
{
    struct gw_conf c;
    char path[300], err[512];
    const char *text =
        "[server]\n"
        "listen = [::1]:0\n"
        "workers = 4\n"
        "admin_listen =\n"
        "log_level = WARNING\n"
        "max_url_size = 1K\n"
        "header_timeout = 250ms\n"
        "[swift]\n"
        "auth_version = 3\n"
        "auth_url = https://keystone.example:5000/v3\n"
        "user = alice\n"
        "key = s3cret ; an inline comment\n"
        "project = demo\n"
        "interface = internal\n"
        "tls_verify = off\n"
        "[cache]\n"
        "max_size = 512kb\n"
        "ttl = 2d\n";

    int rc = load_text(text, &c, path, sizeof(path), err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(c.listen, "[::1]:0");
    ck_assert_int_eq(c.workers, 4);
    ck_assert_str_eq(c.admin_listen, "");
    ck_assert_str_eq(c.log_level, "warning");
    ck_assert_uint_eq(c.max_url_size, 1024);
    ck_assert_uint_eq(c.header_timeout_ms, 250);
    ck_assert_int_eq(c.auth_version, GW_AUTH_V3);
    ck_assert_str_eq(c.key, "s3cret");
    ck_assert_str_eq(c.project, "demo");
    ck_assert_str_eq(c.interface, "internal");
    ck_assert_int_eq(c.tls_verify, 0);
    ck_assert_uint_eq(c.max_size, 512 * 1024);
    ck_assert_uint_eq(c.max_object_size, 64 * 1024); /* 0: max_size / 8 */
    ck_assert_uint_eq(c.ttl_ms, 2 * 86400000ULL);
    gw_conf_free(&c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Parsers                                                                   */

START_TEST(test_parse_size)
{
    static const struct { const char *s; uint64_t v; } good[] = {
        {"0", 0}, {"1048576", 1048576}, {"512K", 512 << 10}, {"512k", 512 << 10},
        {"512KB", 512 << 10}, {"512kb", 512 << 10}, {"10M", 10 << 20},
        {"10G", UINT64_C(10) << 30}, {"1T", UINT64_C(1) << 40}, {"7B", 7},
        {"16777215T", UINT64_C(16777215) << 40},
        {"18446744073709551615", UINT64_MAX},
    };
    static const char *const bad[] = {
        "", "K", "B", "-1", "+1", " 1", "1 ", "1.5M", "1KK", "1BB", "1P", "1Ki",
        "0x10", "10MiB",
        "18446744073709551616",  /* 2^64 */
        "16777216T",             /* 2^64 */
        "17179869184G",          /* 2^64 */
        "99999999999999999999999K",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t v = 42;
        ck_assert_msg(gw_parse_size(good[i].s, &v) == 0, "rejected %s", good[i].s);
        ck_assert_msg(v == good[i].v, "%s gave %llu", good[i].s, (unsigned long long)v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 42;
        ck_assert_msg(gw_parse_size(bad[i], &v) == -1, "accepted \"%s\"", bad[i]);
        ck_assert_msg(v == 42, "\"%s\" changed *out on error", bad[i]);
    }
}
END_TEST

START_TEST(test_parse_duration)
{
    static const struct { const char *s; uint64_t v; } good[] = {
        {"0", 0}, {"250ms", 250}, {"10s", 10000}, {"5m", 300000},
        {"1h", 3600000}, {"1d", 86400000}, {"30", 30000}, {"2H", 7200000},
        {"18446744073709551615ms", UINT64_MAX},
    };
    static const char *const bad[] = {
        "", "s", "ms", "-1s", "1.5s", "1 s", "10x", "1w", "1msec", "5mm",
        "18446744073709551616ms",  /* 2^64 */
        "18446744073709552s",      /* * 1000 overflows */
        "213503982335d",           /* * 86400000 overflows */
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t v = 42;
        ck_assert_msg(gw_parse_duration_ms(good[i].s, &v) == 0, "rejected %s", good[i].s);
        ck_assert_msg(v == good[i].v, "%s gave %llu", good[i].s, (unsigned long long)v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 42;
        ck_assert_msg(gw_parse_duration_ms(bad[i], &v) == -1, "accepted \"%s\"", bad[i]);
        ck_assert_msg(v == 42, "\"%s\" changed *out on error", bad[i]);
    }
}
END_TEST

START_TEST(test_parse_bool)
{
    static const char *const yes[] = {"yes", "YES", "true", "True", "on", "1"};
    static const char *const no[] = {"no", "No", "false", "FALSE", "off", "0"};
    static const char *const bad[] = {"", "y", "n", "2", "enable", "yes ", "onn"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        int v = 42;
        ck_assert_int_eq(gw_parse_bool(yes[i], &v), 0);
        ck_assert_msg(v == 1, "%s gave %d", yes[i], v);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        int v = 42;
        ck_assert_int_eq(gw_parse_bool(no[i], &v), 0);
        ck_assert_msg(v == 0, "%s gave %d", no[i], v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int v = 42;
        ck_assert_msg(gw_parse_bool(bad[i], &v) == -1, "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(v, 42);
    }
}
END_TEST

START_TEST(test_parse_hostport)
{
    static const struct { const char *s, *host; int port; } good[] = {
        {"0.0.0.0:8080", "0.0.0.0", 8080},
        {"127.0.0.1:0", "127.0.0.1", 0},
        {"localhost:0", "localhost", 0},
        {"swift-proxy.example.com:65535", "swift-proxy.example.com", 65535},
        {"[::1]:8080", "::1", 8080},
        {"[::]:80", "::", 80},
        {"[2001:db8::42]:443", "2001:db8::42", 443},
        {"[fe80::1%eth0]:80", "fe80::1%eth0", 80},
    };
    static const char *const bad[] = {
        "", "8080", "localhost", "localhost:", ":8080", "host:65536", "host:-1",
        "host:+80", "host:80x", "host:123456", "::1:8080", "::1", "[::1]", "[::1]8080",
        "[::1]:", "[]:80", "[::1:80", "[zz::1]:80", "[127.0.0.1]:80", "999.1.1.1:80",
        "1.2.3:80", "a b:80", "host/x:80", ".host:80", "a..b:80", "[fe80::1%]:80",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char host[64] = "untouched";
        int port = -7;
        ck_assert_msg(gw_parse_hostport(good[i].s, host, sizeof(host), &port) == 0,
                      "rejected %s", good[i].s);
        ck_assert_str_eq(host, good[i].host);
        ck_assert_int_eq(port, good[i].port);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char host[64] = "untouched";
        int port = -7;
        ck_assert_msg(gw_parse_hostport(bad[i], host, sizeof(host), &port) == -1,
                      "accepted \"%s\"", bad[i]);
        ck_assert_str_eq(host, "untouched");
        ck_assert_int_eq(port, -7);
    }

    /* The host must fit in hostlen - 1 bytes. */
    char small[10] = "untouched";
    int port = -7;
    ck_assert_int_eq(gw_parse_hostport("localhost:80", small, 10, &port), 0);
    ck_assert_str_eq(small, "localhost");
    ck_assert_int_eq(gw_parse_hostport("localhost1:80", small, 10, &port), -1);
    ck_assert_int_eq(gw_parse_hostport("[::1]:80", small, 3, &port), -1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* File errors                                                               */

START_TEST(test_unknown_key)
{
    expect_error(SWIFT_V1 "kye = x\n", ":5: kye: unknown key in [swift]");
}
END_TEST

/*
 * A bad value at line 4 of a file, after a comment, a blank line and an
 * indented section header; the message must be exactly "PATH:4: key: why".
 */
static const struct {
    const char *section, *line, *suffix;
} bad_values[] = {
    {"server", "workers = 0", ":4: workers: must be \"auto\" or a number from 1 to 256"},
    {"server", "workers = 257", ":4: workers: must be \"auto\" or a number from 1 to 256"},
    {"server", "workers = -1", ":4: workers: must be \"auto\" or a number from 1 to 256"},
    {"server", "workers = many", ":4: workers: must be \"auto\" or a number from 1 to 256"},
    {"server", "listen = 0.0.0.0",
     ":4: listen: must be host:port, e.g. 0.0.0.0:8080 or [::1]:8080"},
    {"server", "listen = ::1:8080",
     ":4: listen: must be host:port, e.g. 0.0.0.0:8080 or [::1]:8080"},
    {"server", "listen =", ":4: listen: must be host:port, e.g. 0.0.0.0:8080 or [::1]:8080"},
    {"server", "admin_listen = localhost:99999",
     ":4: admin_listen: must be host:port, e.g. 0.0.0.0:8080 or [::1]:8080"},
    {"server", "admin_listen = 0.0.0.0:8080",
     ":4: admin_listen: must not overlap listen (0.0.0.0:8080): the same port on the same "
     "or a wildcard address"},
    {"server", "admin_listen = 127.0.0.1:8080",
     ":4: admin_listen: must not overlap listen (0.0.0.0:8080): the same port on the same "
     "or a wildcard address"},
    {"server", "log_level = verbose", ":4: log_level: must be debug, info, warning or error"},
    {"server", "user = no-such-user-sg", ":4: [server] user: no such user"},
    {"server", "group = no-such-group-sg", ":4: group: no such group"},
    {"server", "group = root", ":4: group: needs user (the group is the one user runs in)"},
    {"server", "max_connections = 0", ":4: max_connections: must be a number of at least 1"},
    {"server", "trusted_proxies = 10.0.0.0/33",
     ":4: trusted_proxies: must be addresses or networks such as 10.0.0.0/8, ::1, "
     "separated by commas"},
    {"server", "proxy_protocol = on", ":4: proxy_protocol: must be off, v1, v2 or both"},
    {"server", "proxy_protocol = 2", ":4: proxy_protocol: must be off, v1, v2 or both"},
    {"server", "access_log_format = apache",
     ":4: access_log_format: must be swiftgate, combined or json"},
    {"swift", "max_fetches = 0", ":4: max_fetches: must be a number from 1 to 65536"},
    {"cors", "allow_origin = app.example.com",
     ":4: allow_origin: must be empty, * or origins such as https://app.example.com, "
     "separated by commas"},
    {"cors", "allow_origin = https://a.example/path",
     ":4: allow_origin: must be empty, * or origins such as https://app.example.com, "
     "separated by commas"},
    {"cors", "expose_headers = ETag\x01", ":4: expose_headers: must be printable text on one line"},
    {"swift", "fetch_queue = 2000000", ":4: fetch_queue: must be a number from 0 to 1048576"},
    {"swift", "fetch_queue_timeout = 0s", ":4: fetch_queue_timeout: must be a duration above 0, such as 250ms, 30s or 5m"},
    {"server", "admin_max_connections = 1025",
     ":4: admin_max_connections: must be a number from 1 to 1024"},
    {"server", "max_memory = half", ":4: max_memory: must be a size such as 512K, 10M or 10G"},
    {"server", "max_memory = -1G", ":4: max_memory: must be a size such as 512K, 10M or 10G"},
    {"server", "max_connections = 1e6", ":4: max_connections: must be a number of at least 1"},
    {"server", "max_connections = 99999999999999999999", ":4: max_connections: is too large"},
    {"server", "max_header_size = 1023", ":4: max_header_size: must be a size from 1K to 1M"},
    {"server", "max_header_size = 2M", ":4: max_header_size: must be a size from 1K to 1M"},
    {"server", "max_headers = 0", ":4: max_headers: must be a number from 1 to 1000"},
    {"server", "max_headers = 1001", ":4: max_headers: must be a number from 1 to 1000"},
    {"server", "max_url_size = 255", ":4: max_url_size: must be a size from 256 to 1M"},
    {"server", "max_url_size = 32K", ":4: max_url_size: must not exceed max_header_size (16K)"},
    {"server", "max_header_size = 4K",
     ":4: max_header_size: must be at least max_url_size (8K)"},
    {"server", "header_timeout = 0",
     ":4: header_timeout: must be a duration above 0, such as 250ms, 30s or 5m"},
    {"server", "keepalive_timeout = 0ms",
     ":4: keepalive_timeout: must be a duration above 0, such as 250ms, 30s or 5m"},
    {"server", "send_timeout = 10x",
     ":4: send_timeout: must be a duration above 0, such as 250ms, 30s or 5m"},
    {"server", "shutdown_grace = soon",
     ":4: shutdown_grace: must be a duration such as 250ms, 30s, 5m or 1h"},
    {"server", "write_buffer = 1K", ":4: write_buffer: must be a size from 4K to 64M"},
    {"server", "max_upload_size = 0", ":4: max_upload_size: must be a size of at least 1"},
    {"server", "max_upload_size = 5Q",
     ":4: max_upload_size: must be a size of at least 1"},
    {"server", "write_buffer = 65M", ":4: write_buffer: must be a size from 4K to 64M"},
    {"swift", "auth_version = 2", ":4: auth_version: must be 1, 3 or static"},
    {"swift", "auth_version = v1", ":4: auth_version: must be 1, 3 or static"},
    {"swift", "auth_url = ftp://host/auth", ":4: auth_url: must start with http:// or https://"},
    {"swift", "auth_url = 127.0.0.1:8080", ":4: auth_url: must start with http:// or https://"},
    {"swift", "storage_url = http://", ":4: storage_url: must start with http:// or https://"},
    {"swift", "interface = private", ":4: interface: must be public, internal or admin"},
    {"swift", "container = a/b", ":4: container: must not contain '/'"},
    {"swift", "container =", ":4: container: must not be empty"},
    {"swift", "tls_verify = maybe",
     ":4: tls_verify: must be yes or no (or true/false, on/off, 1/0)"},
    {"swift", "connect_timeout = 0s",
     ":4: connect_timeout: must be a duration above 0, such as 250ms, 30s or 5m"},
    {"swift", "stall_timeout = 213503982335d", ":4: stall_timeout: is too large"},
    {"swift", "segment_containers = a,,b",
     ":4: segment_containers: must be container names separated by commas"},
    {"swift", "segment_containers = a, b,",
     ":4: segment_containers: must be container names separated by commas"},
    {"swift", "segment_containers = fractals, x/y",
     ":4: segment_containers: must name containers without '/'"},
    {"swift", "max_segments = 0", ":4: max_segments: must be a number from 1 to 100000"},
    {"swift", "max_segments = 100001", ":4: max_segments: must be a number from 1 to 100000"},
    {"swift", "segment_size = 1023K", ":4: segment_size: must be a size from 1M to 5G"},
    {"swift", "segment_size = 6G", ":4: segment_size: must be a size from 1M to 5G"},
    {"swift", "max_plan_size = 1K", ":4: max_plan_size: must be a size from 64K to 256M"},
    {"cache", "plan_cache_size = 5G", ":4: plan_cache_size: must be a size from 0 to 4G"},
    {"cache", "max_size = 16777216T", ":4: max_size: is too large"},
    {"cache", "max_size = lots", ":4: max_size: must be a size such as 512K, 10M or 10G"},
    {"cache", "ttl = 1w", ":4: ttl: must be a duration such as 250ms, 30s, 5m or 1h"},
    {"cache", "stale_while_revalidate = soon",
     ":4: stale_while_revalidate: must be a duration such as 250ms, 30s, 5m or 1h"},
    {"cache", "negative_ttl = 300000000000000d", ":4: negative_ttl: is too large"},
    {"cache", "negative_max_entries = 10000001",
     ":4: negative_max_entries: must be a number from 0 to 10000000"},
    {"cache", "negative_max_entries = -1",
     ":4: negative_max_entries: must be a number from 0 to 10000000"},
};

START_TEST(test_bad_value)
{
    char text[512];
    /* The [swift] keys come after the bad line, so a bad [swift] key set
     * again there must not hide the first error. */
    snprintf(text, sizeof(text), "# line 1\n\n   [%s]\n%s\n" SWIFT_V1,
             bad_values[_i].section, bad_values[_i].line);
    expect_error(text, bad_values[_i].suffix);
}
END_TEST

START_TEST(test_bad_value_line_number)
{
    expect_error("; swiftgate test\n"
                 "\n"
                 "[server]\n"
                 "listen = 127.0.0.1:0   ; inline comment\n"
                 "# workers = 0 is commented out\n"
                 "\n"
                 "    workers = 1\n"
                 "max_headers = 10\n"
                 "\n"
                 SWIFT_V1  /* lines 10-13 */
                 "[cache]\n"
                 "ttl = 1s\n"
                 "negative_ttl = never\n",
                 ":16: negative_ttl: must be a duration such as 250ms, 30s, 5m or 1h");
}
END_TEST

START_TEST(test_duplicate_key)
{
    expect_error("[server]\nworkers = 2\nlisten = 127.0.0.1:0\nworkers = 2\n" SWIFT_V1,
                 ":4: workers: duplicate key (first set on line 2)");
}
END_TEST

START_TEST(test_duplicate_key_other_block)
{
    /* A section may appear twice; its keys still may not. */
    expect_error(SWIFT_V1 "[server]\n[swift]\nuser = again\n",
                 ":7: [swift] user: duplicate key (first set on line 3)");
}
END_TEST

START_TEST(test_unknown_section)
{
    expect_error(SWIFT_V1 "[sever]\nworkers = 2\n", ":5: [sever]: unknown section");
}
END_TEST

START_TEST(test_unknown_empty_section)
{
    /* No key follows it, so only the reader can see it. */
    expect_error("[cahce]\n" SWIFT_V1, ":1: [cahce]: unknown section");
}
END_TEST

START_TEST(test_key_before_section)
{
    expect_error("# comment\nworkers = 2\n" SWIFT_V1,
                 ":2: workers: key before the first [section]");
}
END_TEST

START_TEST(test_syntax_error)
{
    expect_error(SWIFT_V1 "[server]\nworkers\n",
                 ":6: syntax error: expected [section], key = value or a comment");
    expect_error("[server\n" SWIFT_V1,
                 ":1: syntax error: expected [section], key = value or a comment");
}
END_TEST

START_TEST(test_first_error_wins)
{
    /* A syntax error inih finds before our bad value... */
    expect_error("[server]\nnonsense\nworkers = 0\n" SWIFT_V1,
                 ":2: syntax error: expected [section], key = value or a comment");
    /* ...and our bad value before a syntax error. */
    expect_error("[server]\nworkers = 0\nnonsense\n" SWIFT_V1,
                 ":2: workers: must be \"auto\" or a number from 1 to 256");
}
END_TEST

START_TEST(test_indented_key_is_not_continuation)
{
    /* inih would take an indented line as more of the previous value. */
    struct gw_conf c;
    char path[300], err[512];
    int rc = load_text("[server]\nlisten = 127.0.0.1:0\n  workers = 3\n" SWIFT_V1, &c, path,
                       sizeof(path), err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(c.listen, "127.0.0.1:0");
    ck_assert_int_eq(c.workers, 3);
    gw_conf_free(&c);
}
END_TEST

START_TEST(test_long_line)
{
    char text[1024], value[400];

    /* A long comment is harmless and is accepted. */
    memset(value, 'x', 300);
    value[300] = '\0';
    snprintf(text, sizeof(text), "# %s\n" SWIFT_V1, value);
    struct gw_conf c;
    char path[300], err[512];
    ck_assert_int_eq(load_text(text, &c, path, sizeof(path), err, sizeof(err)), 0);
    gw_conf_free(&c);

    /* A long value is not cut in two, it is reported. */
    snprintf(text, sizeof(text), SWIFT_V1 "container = %s\n", value);
    expect_error(text, ":5: line longer than 198 bytes; set long values through SWIFTGATE_* "
                       "environment variables");
}
END_TEST

START_TEST(test_cannot_open)
{
    struct gw_conf c;
    char path[300], err[512], want[600];

    snprintf(path, sizeof(path), "%s/no-such-file.conf", tmpdir);
    ck_assert_int_eq(gw_conf_load(&c, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
    ck_assert_str_eq(err, want);
    /* Even a failed load leaves heap strings behind, defaults included. */
    ck_assert_str_eq(c.listen, "0.0.0.0:8080");
    ck_assert_str_eq(c.auth_url, "");
    gw_conf_free(&c);
    ck_assert_ptr_null(c.listen);
    gw_conf_free(&c);  /* a second free is harmless */
}
END_TEST

START_TEST(test_small_err_buffer)
{
    struct gw_conf c;
    char err[8];

    memset(err, 'z', sizeof(err));
    ck_assert_int_eq(gw_conf_load(&c, "/nonexistent/dir/x.conf", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "/nonexi");
    gw_conf_free(&c);
    ck_assert_int_eq(gw_conf_load(&c, "/nonexistent/dir/x.conf", NULL, 0), -1);
    gw_conf_free(&c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Environment                                                               */

START_TEST(test_env_overrides_file)
{
    struct gw_conf c;
    char path[300], err[512];

    setenv("SWIFTGATE_SWIFT_KEY", "from-env", 1);
    setenv("SWIFTGATE_SERVER_WORKERS", "8", 1);
    setenv("SWIFTGATE_SERVER_ADMIN_LISTEN", "", 1);
    setenv("SWIFTGATE_CACHE_TTL", "90s", 1);
    int rc = load_text("[server]\nworkers = 2\n" SWIFT_V1, &c, path, sizeof(path), err,
                       sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(c.key, "from-env");
    ck_assert_int_eq(c.workers, 8);
    ck_assert_str_eq(c.admin_listen, "");
    ck_assert_uint_eq(c.ttl_ms, 90000);
    ck_assert_str_eq(c.user, "test:tester");
    gw_conf_free(&c);
}
END_TEST

START_TEST(test_env_bad_value)
{
    struct gw_conf c;
    char path[300], err[512];

    setenv("SWIFTGATE_SWIFT_AUTH_VERSION", "2", 1);
    ck_assert_int_eq(load_text(SWIFT_V1, &c, path, sizeof(path), err, sizeof(err)), -1);
    ck_assert_str_eq(err, "env SWIFTGATE_SWIFT_AUTH_VERSION: must be 1, 3 or static");
    gw_conf_free(&c);

    /* Environment values are not trimmed the way inih trims file values. */
    setenv("SWIFTGATE_SWIFT_AUTH_VERSION", "1", 1);
    setenv("SWIFTGATE_SERVER_SEND_TIMEOUT", " 5s", 1);
    ck_assert_int_eq(load_text(SWIFT_V1, &c, path, sizeof(path), err, sizeof(err)), -1);
    ck_assert_str_eq(err, "env SWIFTGATE_SERVER_SEND_TIMEOUT: must be a duration above 0, "
                          "such as 250ms, 30s or 5m");
    gw_conf_free(&c);
}
END_TEST

START_TEST(test_env_unknown_key)
{
    struct gw_conf c;
    char path[300], err[512];

    setenv("SWIFTGATE_SWIFT_KYE", "x", 1);
    ck_assert_int_eq(load_text(SWIFT_V1, &c, path, sizeof(path), err, sizeof(err)), -1);
    ck_assert_str_eq(err, "env SWIFTGATE_SWIFT_KYE: unknown key");
    gw_conf_free(&c);
}
END_TEST

START_TEST(test_env_other_variables_ignored)
{
    struct gw_conf c;
    char path[300], err[512];

    /* No known section after SWIFTGATE_: not ours. */
    setenv("SWIFTGATE_CONF", "/etc/elsewhere.conf", 1);
    setenv("SWIFTGATE_LOGGING_LEVEL", "debug", 1);
    setenv("SWIFTGATEWAY_SERVER_WORKERS", "0", 1);
    setenv("SWIFTGATE_SERVERX_WORKERS", "0", 1);
    int rc = load_text(SWIFT_V1, &c, path, sizeof(path), err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(c.workers, 0);
    gw_conf_free(&c);
}
END_TEST

START_TEST(test_env_cross_check_names_env)
{
    struct gw_conf c;
    char path[300], err[512];

    setenv("SWIFTGATE_SERVER_MAX_URL_SIZE", "20K", 1);
    ck_assert_int_eq(load_text(SWIFT_V1, &c, path, sizeof(path), err, sizeof(err)), -1);
    ck_assert_str_eq(err,
                     "env SWIFTGATE_SERVER_MAX_URL_SIZE: must not exceed max_header_size (16K)");
    gw_conf_free(&c);
}
END_TEST

START_TEST(test_env_long_container)
{
    /* The environment has no line limit, so the 256-byte rule is reachable. */
    char value[300];
    struct gw_conf c;
    char path[300], err[512];

    memset(value, 'c', 256);
    value[256] = '\0';
    setenv("SWIFTGATE_SWIFT_CONTAINER", value, 1);
    ck_assert_int_eq(load_text(SWIFT_V1, &c, path, sizeof(path), err, sizeof(err)), 0);
    ck_assert_uint_eq(strlen(c.container), 256);
    gw_conf_free(&c);

    value[256] = 'c';
    value[257] = '\0';
    setenv("SWIFTGATE_SWIFT_CONTAINER", value, 1);
    ck_assert_int_eq(load_text(SWIFT_V1, &c, path, sizeof(path), err, sizeof(err)), -1);
    ck_assert_str_eq(err, "env SWIFTGATE_SWIFT_CONTAINER: must be at most 256 bytes");
    gw_conf_free(&c);
}
END_TEST

START_TEST(test_no_file_env_only)
{
    struct gw_conf c;
    char err[512];

    ck_assert_int_eq(gw_conf_load(&c, NULL, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "(no file): [swift] auth_url: required when auth_version = 1");
    ck_assert_ptr_nonnull(c.path);
    gw_conf_free(&c);

    setenv("SWIFTGATE_SWIFT_AUTH_VERSION", "static", 1);
    setenv("SWIFTGATE_SWIFT_STORAGE_URL", "http://127.0.0.1:8080/v1/AUTH_test", 1);
    setenv("SWIFTGATE_SWIFT_TOKEN", "AUTH_tk0123", 1);
    int rc = gw_conf_load(&c, NULL, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(c.auth_version, GW_AUTH_STATIC);
    ck_assert_str_eq(c.token, "AUTH_tk0123");
    gw_conf_free(&c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Required keys                                                             */

/* For auth_version = 1 and 3: each required key, missing or empty. */
static const struct {
    const char *text, *suffix;
} missing[] = {
    {"[swift]\nuser = u\nkey = k\n", ": [swift] auth_url: required when auth_version = 1"},
    {"[swift]\nauth_url = http://h/auth/v1.0\nkey = k\n",
     ": [swift] user: required when auth_version = 1"},
    {"[swift]\nauth_url = http://h/auth/v1.0\nuser = u\nkey =\n",
     ": [swift] key: required when auth_version = 1"},
    {"[swift]\nauth_version = 3\nuser = u\nkey = k\nproject = p\n",
     ": [swift] auth_url: required when auth_version = 3"},
    {"[swift]\nauth_version = 3\nauth_url = https://h/v3\nkey = k\nproject = p\n",
     ": [swift] user: required when auth_version = 3"},
    {"[swift]\nauth_version = 3\nauth_url = https://h/v3\nuser = u\nproject = p\n",
     ": [swift] key: required when auth_version = 3"},
    {"[swift]\nauth_version = 3\nauth_url = https://h/v3\nuser = u\nkey = k\n",
     ": [swift] project: required when auth_version = 3"},
    {"[swift]\nauth_version = 3\nauth_url = https://h/v3\nuser = u\nkey = k\nproject =\n",
     ": [swift] project: required when auth_version = 3"},
};

START_TEST(test_required_keys)
{
    expect_error(missing[_i].text, missing[_i].suffix);
}
END_TEST

START_TEST(test_v3_complete)
{
    struct gw_conf c;
    char path[300], err[512];
    int rc = load_text("[swift]\nauth_version = 3\nauth_url = https://h/v3\nuser = u\n"
                       "key = k\nproject = p\n",
                       &c, path, sizeof(path), err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(c.auth_version, GW_AUTH_V3);
    gw_conf_free(&c);
}
END_TEST

START_TEST(test_static_mode)
{
    struct gw_conf c;
    char path[300], err[512];

    expect_error("[swift]\nauth_version = static\ntoken = t\n",
                 ": [swift] storage_url: required when auth_version = static");
    expect_error("[swift]\nauth_version = static\nstorage_url = https://h/v1/AUTH_a\n",
                 ": [swift] token: required when auth_version = static");
    /* auth_url, user and key are not needed in static mode. */
    int rc = load_text("[swift]\nauth_version = static\nstorage_url = https://h/v1/AUTH_a\n"
                       "token = t\n",
                       &c, path, sizeof(path), err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(c.auth_version, GW_AUTH_STATIC);
    ck_assert_str_eq(c.storage_url, "https://h/v1/AUTH_a");
    ck_assert_str_eq(c.auth_url, "");
    gw_conf_free(&c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Dump                                                                      */

/* Runs gw_conf_dump() with stdout going to a file; returns its text. */
static char *dump_to_string(const struct gw_conf *c, char *path, size_t pathlen)
{
    write_conf("", path, pathlen);
    int fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    fflush(stdout);
    int saved = dup(1);
    ck_assert_int_ge(saved, 0);
    dup2(fd, 1);
    gw_conf_dump(c);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(fd);

    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *buf = gw_calloc(1, 8192);
    size_t n = fread(buf, 1, 8191, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

START_TEST(test_dump_round_trip)
{
    struct gw_conf a, b;
    char path[300], dumped[300], err[512];
    const char *text =
        "[server]\n"
        "listen = [::1]:9000\n"
        "workers = 6\n"
        "admin_token = adm1n-secret\n"
        "write_token = wr1te-secret\n"
        "max_upload_size = 2G\n"
        "max_header_size = 1048575\n"
        "header_timeout = 1500ms\n"
        "keepalive_timeout = 2m\n"
        "shutdown_grace = 0\n"
        "write_buffer = 64M\n"
        "[swift]\n"
        "auth_version = static\n"
        "storage_url = http://127.0.0.1:8080/v1/AUTH_test\n"
        "token = tok-secret\n"
        "key = key-secret\n"
        "tls_verify = no\n"
        "[cache]\n"
        "max_size = 3T\n"
        "ttl = 1d\n"
        "negative_ttl = 90s\n";

    ck_assert_int_eq(load_text(text, &a, path, sizeof(path), err, sizeof(err)), 0);
    char *out = dump_to_string(&a, dumped, sizeof(dumped));

    ck_assert_ptr_null(strstr(out, "secret"));
    ck_assert_ptr_nonnull(strstr(out, "\nadmin_token = (set)\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nwrite_token = (set)\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nmax_upload_size = 2G\n"));
    ck_assert_ptr_nonnull(strstr(out, "\ntoken = (set)\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nkey = (set)\n"));
    ck_assert_ptr_nonnull(strstr(out, "\n[server]\n"));
    ck_assert_ptr_nonnull(strstr(out, "\n[swift]\n"));
    ck_assert_ptr_nonnull(strstr(out, "\n[cache]\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nauth_version = static\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nworkers = 6\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nheader_timeout = 1500ms\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nmax_size = 3T\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nregion = \n"));
    free(out);

    /* What the dump says must load back to the same configuration. */
    ck_assert_int_eq(gw_conf_load(&b, dumped, err, sizeof(err)), 0);
    ck_assert_str_eq(b.listen, a.listen);
    ck_assert_int_eq(b.workers, a.workers);
    ck_assert_uint_eq(b.max_header_size, a.max_header_size);
    ck_assert_uint_eq(b.header_timeout_ms, a.header_timeout_ms);
    ck_assert_uint_eq(b.keepalive_timeout_ms, a.keepalive_timeout_ms);
    ck_assert_uint_eq(b.shutdown_grace_ms, 0);
    ck_assert_uint_eq(b.write_buffer, a.write_buffer);
    ck_assert_int_eq(b.auth_version, a.auth_version);
    ck_assert_str_eq(b.storage_url, a.storage_url);
    ck_assert_int_eq(b.tls_verify, 0);
    ck_assert_uint_eq(b.max_size, a.max_size);
    ck_assert_uint_eq(b.ttl_ms, a.ttl_ms);
    ck_assert_uint_eq(b.negative_ttl_ms, a.negative_ttl_ms);
    ck_assert_str_eq(b.token, "(set)");
    ck_assert_str_eq(b.admin_listen, a.admin_listen);
    gw_conf_free(&b);

    /* An unset secret prints empty, not "(set)". */
    gw_conf_free(&a);
    ck_assert_int_eq(load_text(SWIFT_V1, &a, path, sizeof(path), err, sizeof(err)), 0);
    out = dump_to_string(&a, dumped, sizeof(dumped));
    ck_assert_ptr_nonnull(strstr(out, "\nadmin_token = \n"));
    ck_assert_ptr_nonnull(strstr(out, "\nworkers = auto\n"));
    free(out);
    gw_conf_free(&a);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc;

    tc = tcase_create("parsers");
    tcase_add_test(tc, test_proxy_protocol_words);
    tcase_add_test(tc, test_parse_size);
    tcase_add_test(tc, test_parse_duration);
    tcase_add_test(tc, test_parse_bool);
    tcase_add_test(tc, test_parse_hostport);
    suite_add_tcase(s, tc);

    tc = tcase_create("file");
    tcase_add_test(tc, test_shipped_conf_loads);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_values_are_set);
    tcase_add_test(tc, test_segment_containers);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_loop_test(tc, test_bad_value, 0, (int)(sizeof(bad_values) / sizeof(bad_values[0])));
    tcase_add_test(tc, test_bad_value_line_number);
    tcase_add_test(tc, test_duplicate_key);
    tcase_add_test(tc, test_duplicate_key_other_block);
    tcase_add_test(tc, test_unknown_section);
    tcase_add_test(tc, test_unknown_empty_section);
    tcase_add_test(tc, test_key_before_section);
    tcase_add_test(tc, test_syntax_error);
    tcase_add_test(tc, test_first_error_wins);
    tcase_add_test(tc, test_indented_key_is_not_continuation);
    tcase_add_test(tc, test_long_line);
    tcase_add_test(tc, test_cannot_open);
    tcase_add_test(tc, test_small_err_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("env");
    tcase_add_test(tc, test_env_overrides_file);
    tcase_add_test(tc, test_env_bad_value);
    tcase_add_test(tc, test_env_unknown_key);
    tcase_add_test(tc, test_env_other_variables_ignored);
    tcase_add_test(tc, test_env_cross_check_names_env);
    tcase_add_test(tc, test_env_long_container);
    tcase_add_test(tc, test_no_file_env_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("required");
    tcase_add_loop_test(tc, test_required_keys, 0, (int)(sizeof(missing) / sizeof(missing[0])));
    tcase_add_test(tc, test_v3_complete);
    tcase_add_test(tc, test_static_mode);
    suite_add_tcase(s, tc);

    tc = tcase_create("dump");
    tcase_add_test(tc, test_dump_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    unit_clear_swiftgate_env();
    return unit_run_in_tmpdir(conf_suite(), "test_conf", tmpdir, sizeof(tmpdir));
}

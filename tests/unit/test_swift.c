/*
 * test_swift.c - Keystone v3 token parsing, object URLs, readiness before
 * any auth request, and what a reload does to the token
 * (gw_swift_reconfigure).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"

#include "conf.h"
#include "swift.h"
#include "util.h"

static const char catalog[] =
    "{\"token\": {\"expires_at\": \"2030-01-02T03:04:05.000000Z\", \"catalog\": ["
    " {\"type\": \"identity\", \"endpoints\": [{\"interface\": \"public\", \"region\": \"r1\","
    "   \"url\": \"http://keystone/v3\"}]},"
    " {\"type\": \"object-store\", \"endpoints\": ["
    "   {\"interface\": \"public\", \"region\": \"r1\", \"url\": \"http://pub-r1/v1/AUTH_p\"},"
    "   {\"interface\": \"internal\", \"region\": \"r1\", \"url\": \"http://int-r1/v1/AUTH_p\"},"
    "   {\"interface\": \"public\", \"region\": \"r2\", \"url\": \"http://pub-r2/v1/AUTH_p\"},"
    "   {\"interface\": \"internal\", \"region_id\": \"r2\", \"url\": \"http://int-r2/v1/AUTH_p\"}"
    " ]}]}}";

static char *pick(const char *interface, const char *region, int *rc)
{
    char *url = NULL;
    int64_t exp = 0;
    const char *why = NULL;
    *rc = gw_swift_v3_parse(catalog, strlen(catalog), interface, region, &url, &exp, &why);
    if (*rc == 0) ck_assert_int_eq(exp, 1893553445); /* date -d 2030-01-02T03:04:05Z +%s */
    return url;
}

START_TEST(v3_interface_and_region)
{
    int rc;
    char *u = pick("public", "", &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(u, "http://pub-r1/v1/AUTH_p");
    free(u);
    u = pick("internal", "r2", &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(u, "http://int-r2/v1/AUTH_p");
    free(u);
    u = pick("public", "r2", &rc);
    ck_assert_str_eq(u, "http://pub-r2/v1/AUTH_p");
    free(u);
    u = pick("admin", "", &rc);
    ck_assert_int_eq(rc, GW_EAUTH);
    ck_assert_ptr_null(u);
    u = pick("public", "r3", &rc);
    ck_assert_int_eq(rc, GW_EAUTH);
}
END_TEST

START_TEST(v3_bad_bodies)
{
    const char *bodies[] = {
        "", "not json", "{}", "{\"token\": {}}",
        "{\"token\": {\"expires_at\": \"soon\", \"catalog\": []}}",
        "{\"token\": {\"expires_at\": \"2030-01-02T03:04:05Z\", \"catalog\": {}}}",
        ("{\"token\": {\"expires_at\": \"2030-01-02T03:04:05Z\", \"catalog\": "
         "[{\"type\": \"object-store\", \"endpoints\": [{\"interface\": 5, \"url\": 6}]}]}}"),
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char *url = NULL;
        int64_t exp;
        const char *why = NULL;
        int rc = gw_swift_v3_parse(bodies[i], strlen(bodies[i]), "public", "", &url, &exp, &why);
        ck_assert_msg(rc == GW_EAUTH, "body %zu accepted", i);
        ck_assert_ptr_nonnull(why);
        ck_assert_ptr_null(url);
    }
}
END_TEST

START_TEST(object_url_encodes)
{
    char *u = gw_swift_object_url("http://s/v1/AUTH_t", "fractals", "a b/../%00?x");
    ck_assert_str_eq(u, "http://s/v1/AUTH_t/fractals/a%20b%2F..%2F%2500%3Fx");
    free(u);
}
END_TEST

START_TEST(listing_url_encodes)
{
    char *u = gw_swift_listing_url("http://s/v1/AUTH_t", "seg s", "a/b&c", "");
    ck_assert_str_eq(u, "http://s/v1/AUTH_t/seg%20s?format=json&prefix=a%2Fb%26c");
    free(u);
    u = gw_swift_listing_url("http://s/v1/AUTH_t", "segs", "p/", "p/0001=?");
    ck_assert_str_eq(u, "http://s/v1/AUTH_t/segs?format=json&prefix=p%2F&marker=p%2F0001%3D%3F");
    free(u);
}
END_TEST

/* gw_swift_ready() of a fresh struct gw_swift for c: nothing was asked yet. */
static int ready_at_start(const struct gw_conf *c, char *why, size_t len, unsigned *after)
{
    struct gw_swift *sw = gw_swift_new(c);
    int ready = gw_swift_ready(sw, why, len, after);
    gw_swift_free(sw);
    return ready;
}

/* Static credentials need no auth request: ready from the start. */
START_TEST(static_auth_is_ready_at_once)
{
    struct gw_conf c = {.auth_version = GW_AUTH_STATIC};
    char url[] = "http://s/v1/AUTH_t/", token[] = "tok", why[GW_SWIFT_REASON_MAX] = "";
    c.storage_url = url;
    c.token = token;
    unsigned after = 0;
    ck_assert_int_eq(ready_at_start(&c, why, sizeof(why), &after), 1);
}
END_TEST

/* TempAuth before its first token: not ready, and says what it waits for. */
START_TEST(no_token_yet_is_not_ready)
{
    struct gw_conf c = {.auth_version = GW_AUTH_V1};
    char url[] = "http://a/auth/v1.0", why[GW_SWIFT_REASON_MAX] = "";
    c.auth_url = url;
    unsigned after = 0;
    ck_assert_int_eq(ready_at_start(&c, why, sizeof(why), &after), 0);
    ck_assert_str_eq(why, "swift auth: waiting for the first token from http://a/auth/v1.0");
    ck_assert_uint_eq(after, 1);
}
END_TEST

/* A configuration from the environment alone: static with token, or v1. */
static void load_static(struct gw_conf *c, const char *token)
{
    char err[512];
    unit_clear_swiftgate_env();
    setenv("SWIFTGATE_SWIFT_AUTH_VERSION", "static", 1);
    setenv("SWIFTGATE_SWIFT_STORAGE_URL", "http://swift/v1/AUTH_a", 1);
    setenv("SWIFTGATE_SWIFT_TOKEN", token, 1);
    ck_assert_msg(gw_conf_load(c, NULL, err, sizeof(err)) == 0, "%s", err);
}

static void load_v1(struct gw_conf *c)
{
    char err[512];
    unit_clear_swiftgate_env();
    setenv("SWIFTGATE_SWIFT_AUTH_URL", "http://swift/auth/v1.0", 1);
    setenv("SWIFTGATE_SWIFT_USER", "a:u", 1);
    setenv("SWIFTGATE_SWIFT_KEY", "k", 1);
    ck_assert_msg(gw_conf_load(c, NULL, err, sizeof(err)) == 0, "%s", err);
}

/* The token in s now, "" when there is none to use; its generation. */
static uint64_t token_now(struct gw_swift *s, char *out, size_t len)
{
    struct gw_swift_creds cr = {0};
    out[0] = '\0';
    if (gw_swift_creds(s, &cr) != 0) return 0;
    snprintf(out, len, "%s", cr.token);
    uint64_t g = cr.generation;
    gw_swift_creds_free(&cr);
    return g;
}

START_TEST(reconfigure_drops_the_token_when_credentials_change)
{
    struct gw_conf t1, t1_again, t2, v1;
    char tok[64];
    load_static(&t1, "t1");
    load_static(&t1_again, "t1");
    load_static(&t2, "t2");
    load_v1(&v1);
    struct gw_swift *s = gw_swift_new(&t1);
    uint64_t g1 = token_now(s, tok, sizeof(tok));
    ck_assert_str_eq(tok, "t1");
    /* The same credentials in a new configuration: the token stays. */
    ck_assert_int_eq(gw_swift_reconfigure(s, &t1_again), 0);
    ck_assert_uint_eq(token_now(s, tok, sizeof(tok)), g1);
    ck_assert_str_eq(tok, "t1");
    /* Another token: used at once, under a newer generation. */
    ck_assert_int_eq(gw_swift_reconfigure(s, &t2), 1);
    ck_assert_uint_gt(token_now(s, tok, sizeof(tok)), g1);
    ck_assert_str_eq(tok, "t2");
    /* TempAuth now: no token until one is asked for with the new key. */
    ck_assert_int_eq(gw_swift_reconfigure(s, &v1), 1);
    token_now(s, tok, sizeof(tok));
    ck_assert_str_eq(tok, "");
    ck_assert_int_eq(gw_swift_reconfigure(s, &t1), 1);
    token_now(s, tok, sizeof(tok));
    ck_assert_str_eq(tok, "t1");
    gw_swift_free(s);
    gw_conf_free(&t1);
    gw_conf_free(&t1_again);
    gw_conf_free(&t2);
    gw_conf_free(&v1);
}
END_TEST

/* New credentials from a reload: not ready until they gave a token. */
START_TEST(reload_to_other_credentials_waits_for_their_token)
{
    struct gw_conf t1, v1;
    char why[GW_SWIFT_REASON_MAX] = "";
    unsigned after = 0;
    load_static(&t1, "t1");
    load_v1(&v1);
    struct gw_swift *s = gw_swift_new(&t1);
    ck_assert_int_eq(gw_swift_ready(s, why, sizeof(why), &after), 1);
    gw_swift_reconfigure(s, &v1);
    ck_assert_int_eq(gw_swift_ready(s, why, sizeof(why), &after), 0);
    ck_assert_str_eq(why, "swift auth: waiting for the first token from http://swift/auth/v1.0");
    gw_swift_reconfigure(s, &t1);
    ck_assert_int_eq(gw_swift_ready(s, why, sizeof(why), &after), 1);
    gw_swift_free(s);
    gw_conf_free(&t1);
    gw_conf_free(&v1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("swift");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, v3_interface_and_region);
    tcase_add_test(tc, v3_bad_bodies);
    tcase_add_test(tc, object_url_encodes);
    tcase_add_test(tc, listing_url_encodes);
    tcase_add_test(tc, static_auth_is_ready_at_once);
    tcase_add_test(tc, no_token_yet_is_not_ready);
    tcase_add_test(tc, reconfigure_drops_the_token_when_credentials_change);
    tcase_add_test(tc, reload_to_other_credentials_waits_for_their_token);
    suite_add_tcase(s, tc);
    return unit_run(s) ? 1 : 0;
}

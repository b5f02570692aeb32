/*
 * test_swift.c - Keystone v3 token parsing, object URLs, and readiness
 * before any auth request.
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
    suite_add_tcase(s, tc);
    return unit_run(s) ? 1 : 0;
}

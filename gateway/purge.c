/*
 * purge.c - `swiftgate purge -g URL [-g URL...] [--token T] [--soft] UUID...`:
 * purge fractals on every gateway named, by its admin URL, and say how
 * each purge went.
 *
 * For each gateway, in the order given, and each uuid, in the order
 * given: DELETE <URL>/cache/fractal/<uuid> (with "X-Purge-Soft: 1" for
 * --soft, and "Authorization: Bearer <token>" when a token is given), one
 * line on stdout: "<URL> <uuid> purged|soft-purged|not cached|error: why".
 * Only a gateway's own answer counts as "not cached" (404 with that
 * reason), so a wrong URL or a public listener is an error, never a quiet
 * success.  A gateway that cannot be reached or does not answer within the
 * timeout is asked nothing more: its remaining uuids are reported as
 * errors at once, so the whole run stays within about one timeout per
 * gateway.  Connections to a gateway are reused (one easy handle each);
 * no proxy from the environment, no redirect.
 *
 * Exit status: 0 when every gateway answered every purge (purged or not
 * cached), 1 when any purge failed (unreachable, timeout, 401, 5xx, any
 * other answer), 2 on bad usage.  The token is never printed.
 */
#include "purge.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "http.h"
#include "route.h"
#include "util.h"

#define PURGE_DEFAULT_TIMEOUT_MS 10000
#define PURGE_CONNECT_TIMEOUT_MS 5000
#define PURGE_REPLY_MAX 256         /* bytes of an answer kept for the report */
#define PURGE_TOKEN_ENV "SWIFTGATE_ADMIN_TOKEN"

struct purge_opts {
    char **gateways;            /* base URLs, owned */
    int ngateways;
    const char **uuids;
    int nuuids;
    const char *token;          /* NULL: none */
    int soft;
    uint64_t timeout_ms;
};

/* The start of an answer's body, NUL-terminated. */
struct reply {
    char text[PURGE_REPLY_MAX + 1];
    size_t len;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: swiftgate purge -g ADMIN_URL [-g ADMIN_URL...] [--soft] [--token T] UUID...\n"
            "\n"
            "Purge each fractal UUID from the cache of every gateway named by its admin\n"
            "listener's URL ([server] admin_listen, e.g. http://10.0.0.5:8081), one line\n"
            "per gateway and uuid on stdout: URL UUID purged | soft-purged | not cached |\n"
            "error: REASON.\n"
            "\n"
            "  -g, --gateway URL     a gateway's admin URL; give one per gateway\n"
            "      --soft            mark the entry expired instead of dropping it: the\n"
            "                        next request revalidates it with Swift (X-Purge-Soft)\n"
            "      --token T         the gateways' [server] admin_token (default: the\n"
            "                        environment's " PURGE_TOKEN_ENV ", which\n"
            "                        keeps it out of the process list)\n"
            "      --timeout DURATION  per request, connection included (default 10s);\n"
            "                        a gateway that times out or cannot be reached is\n"
            "                        asked nothing more\n"
            "  -h, --help            this help\n"
            "\n"
            "Exit status: 0 when every gateway answered every purge (\"not cached\" is\n"
            "an answer); 1 when any purge failed (unreachable, timeout, 401, 5xx); 2 on\n"
            "bad usage.\n");
}

/* ---- the command line ---- */

static int add_gateway(struct purge_opts *o, const char *v)
{
    char *b = v ? gw_cli_base_url(v) : NULL;
    if (b == NULL) {
        fprintf(stderr, "swiftgate purge: -g: want http://host:port of an admin listener "
                        "(got %s)\n", v ? v : "nothing");
        return -1;
    }
    o->gateways[o->ngateways++] = b;
    return 0;
}

static int set_token(struct purge_opts *o, const char *v)
{
    if (v == NULL || v[0] == '\0' || !gw_http_field_value_ok(v, strlen(v))) {
        fprintf(stderr, "swiftgate purge: --token: want the admin token (printable, "
                        "one line)\n");
        return -1;
    }
    o->token = v;
    return 0;
}

static int set_timeout(struct purge_opts *o, const char *v)
{
    if (v == NULL || gw_parse_duration_ms(v, &o->timeout_ms) != 0 || o->timeout_ms == 0 ||
        o->timeout_ms > 3600000) {
        fprintf(stderr, "swiftgate purge: --timeout: want a duration such as 10s or 500ms "
                        "(got %s)\n", v ? v : "nothing");
        return -1;
    }
    return 0;
}

/* argv[*i], an option with a value: 0, 1 when it is none of them, -1 on a bad value. */
static int value_option(struct purge_opts *o, int argc, char **argv, int *i)
{
    int matched;
    const char *v = gw_cli_opt_value(argc, argv, i, "-g", "--gateway", &matched);
    if (matched) return add_gateway(o, v);
    v = gw_cli_opt_value(argc, argv, i, NULL, "--token", &matched);
    if (matched) return set_token(o, v);
    v = gw_cli_opt_value(argc, argv, i, NULL, "--timeout", &matched);
    if (matched) return set_timeout(o, v);
    return 1;
}

/* -1 to go on, else the exit status (0 after --help, 2 on bad usage). */
static int parse_args(struct purge_opts *o, int argc, char **argv)
{
    o->gateways = gw_calloc((size_t)argc, sizeof(*o->gateways));
    o->uuids = gw_calloc((size_t)argc, sizeof(*o->uuids));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--soft") == 0) {
            o->soft = 1;
        } else if (a[0] != '-') {
            if (!gw_route_is_uuid(a, strlen(a))) {
                fprintf(stderr, "swiftgate purge: '%s' is not a fractal uuid\n", a);
                return 2;
            }
            o->uuids[o->nuuids++] = a;
        } else {
            int rc = value_option(o, argc, argv, &i);
            if (rc < 0) return 2;
            if (rc > 0) {
                fprintf(stderr, "swiftgate purge: unknown option '%s' (see swiftgate purge "
                                "--help)\n", a);
                return 2;
            }
        }
    }
    if (o->token == NULL && getenv(PURGE_TOKEN_ENV) && getenv(PURGE_TOKEN_ENV)[0] &&
        set_token(o, getenv(PURGE_TOKEN_ENV)) != 0)
        return 2;
    if (o->ngateways == 0 || o->nuuids == 0) {
        fprintf(stderr, "swiftgate purge: want at least one -g ADMIN_URL and one UUID\n");
        usage(stderr);
        return 2;
    }
    return -1;
}

/* ---- the requests ---- */

static size_t keep_reply(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = size * n, room = PURGE_REPLY_MAX - r->len;
    memcpy(r->text + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->text[r->len] = '\0';
    return len;
}

/* The gateway's reason, from its "STATUS reason" line, printable and one line. */
static void reason_of(const struct reply *r, char *out, size_t cap)
{
    const char *s = r->text;
    const char *sp = strchr(s, ' ');
    if (sp != NULL && sp - s == 3) s = sp + 1;
    size_t n = 0;
    for (; *s && *s != '\n' && n + 1 < cap; s++) out[n++] = (*s >= ' ' && *s < 0x7f) ? *s : '?';
    out[n] = '\0';
}

static CURL *gateway_handle(const struct purge_opts *o, struct curl_slist *headers,
                            struct reply *reply, char *cerr)
{
    CURL *h = curl_easy_init();
    if (h == NULL) return NULL;
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->timeout_ms < PURGE_CONNECT_TIMEOUT_MS ? o->timeout_ms
                                                                     : PURGE_CONNECT_TIMEOUT_MS));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_reply);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "swiftgate-purge/" GW_VERSION);
    return h;
}

/*
 * One purge: prints its line; 0 (answered), 1 (the gateway answered a
 * failure), -1 (no answer: ask this gateway nothing more; *down says why).
 */
static int purge_one(CURL *h, const char *base, const char *uuid,
                     struct reply *reply, char *cerr, char *down, size_t downcap)
{
    char *url = gw_asprintf("%s/cache/fractal/%s", base, uuid);
    curl_easy_setopt(h, CURLOPT_URL, url);
    reply->len = 0;
    reply->text[0] = '\0';
    cerr[0] = '\0';
    CURLcode rc = curl_easy_perform(h);
    free(url);
    if (rc != CURLE_OK) {
        snprintf(down, downcap, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
        printf("%s %s error: %s\n", base, uuid, down);
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    char why[PURGE_REPLY_MAX + 1];
    reason_of(reply, why, sizeof(why));
    if (status == 200) {
        /* What the gateway did, in its words: one that knows no soft purge drops the entry. */
        printf("%s %s %s\n", base, uuid,
               strncmp(why, "soft-purged", 11) == 0 ? "soft-purged" : "purged");
        return 0;
    }
    if (status == 404 && strcmp(why, "not cached") == 0) {
        printf("%s %s not cached\n", base, uuid);
        return 0;
    }
    printf("%s %s error: HTTP %ld%s%s\n", base, uuid, status, why[0] ? " " : "", why);
    return 1;
}

/* Every uuid on one gateway: the number of failed purges. */
static int purge_gateway(const struct purge_opts *o, const char *base,
                         struct curl_slist *headers)
{
    struct reply reply;
    char cerr[CURL_ERROR_SIZE], down[CURL_ERROR_SIZE] = "";
    CURL *h = gateway_handle(o, headers, &reply, cerr);
    if (h == NULL) snprintf(down, sizeof(down), "curl_easy_init failed");
    int failed = 0;
    for (int u = 0; u < o->nuuids; u++) {
        if (down[0]) {
            printf("%s %s error: not asked: %s\n", base, o->uuids[u], down);
            failed++;
            continue;
        }
        int rc = purge_one(h, base, o->uuids[u], &reply, cerr, down, sizeof(down));
        failed += rc != 0;
    }
    fflush(stdout);
    if (h) curl_easy_cleanup(h);
    return failed;
}

static struct curl_slist *request_headers(const struct purge_opts *o)
{
    struct curl_slist *l = curl_slist_append(NULL, "Expect:");
    if (o->soft) l = curl_slist_append(l, "X-Purge-Soft: 1");
    if (o->token) {
        char *auth = gw_asprintf("Authorization: Bearer %s", o->token);
        l = curl_slist_append(l, auth);
        free(auth);
    }
    gw_assert(l != NULL);
    return l;
}

int gw_purge_main(int argc, char **argv)
{
    struct purge_opts o = {.timeout_ms = PURGE_DEFAULT_TIMEOUT_MS};
    int status = parse_args(&o, argc, argv);
    if (status >= 0) goto leave;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "swiftgate purge: curl_global_init failed\n");
        status = 1;
        goto leave;
    }
    struct curl_slist *headers = request_headers(&o);
    int failed = 0;
    for (int g = 0; g < o.ngateways; g++) failed += purge_gateway(&o, o.gateways[g], headers);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    fprintf(stderr, "swiftgate purge: %d of %d purges failed on %d gateways\n", failed,
            o.ngateways * o.nuuids, o.ngateways);
    status = failed ? 1 : 0;
leave:
    for (int g = 0; g < o.ngateways; g++) free(o.gateways[g]);
    free(o.gateways);
    free(o.uuids);
    return status;
}

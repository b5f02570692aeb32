/*
 * healthcheck.c - `swiftgate healthcheck [-c FILE] [-t DURATION] [URL]`.
 *
 * One GET of a gateway's /healthz with libcurl's easy interface, bounded
 * by a timeout; exit 0 on 200 and 1 on anything else, so that a container
 * HEALTHCHECK or a supervisor needs nothing but the gateway's own binary.
 * A refusal is printed with the gateway's reason, the first line of the
 * answer's body ("swift auth: 401 Unauthorized from URL", "draining").
 * The URL is the one given, else the one [server] listen of -c FILE
 * names, else GW_HEALTHCHECK_DEFAULT_URL.  A listener of -c FILE that
 * expects a PROXY header ([server] proxy_protocol) gets a version 1 one,
 * which libcurl writes; one that takes version 2 alone cannot be asked
 * (status 2, said so).  No proxy from the environment
 * is used and no redirect is followed: the answer must be the gateway's.
 * Exit status 2 is kept for bad usage and a bad configuration, as in the
 * other commands.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "healthcheck.h"
#include "proxyproto.h"
#include "util.h"

#define HEALTHCHECK_DEFAULT_TIMEOUT_MS 5000
#define HEALTHCHECK_URL_MAX 512
#define HEALTHCHECK_BODY_MAX 512

static void usage(FILE *out)
{
    fprintf(out,
            "usage: swiftgate healthcheck [-c FILE] [-t DURATION] [URL]\n"
            "\n"
            "GET a gateway's /healthz; exit 0 when it answers 200, 1 when it answers\n"
            "anything else (503 while draining, or while it has no token from Swift's\n"
            "auth: the reason is printed), cannot be reached or does not answer within\n"
            "the timeout, 2 on bad usage or a bad FILE.\n"
            "\n"
            "  URL                    what to GET (default " GW_HEALTHCHECK_DEFAULT_URL ");\n"
            "                         a URL without a path gets /healthz\n"
            "  -c, --config FILE      without URL: the gateway of FILE's [server] listen\n"
            "                         (a wildcard address is asked on loopback)\n"
            "  -t, --timeout DURATION the whole request, connection included\n"
            "                         (default 5s; 500ms, 10s, ...)\n"
            "  -h, --help             this help\n");
}

int gw_healthcheck_url(const char *listen, char *buf, size_t len)
{
    char host[256];
    int port, n;
    if (gw_parse_hostport(listen, host, sizeof(host), &port) != 0 || port == 0) return -1;
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
        n = snprintf(buf, len, "http://127.0.0.1:%d/healthz", port);
    else if (strcmp(host, "::") == 0)
        n = snprintf(buf, len, "http://[::1]:%d/healthz", port);
    else if (strchr(host, ':') != NULL)
        n = snprintf(buf, len, "http://[%s]:%d/healthz", host, port);
    else
        n = snprintf(buf, len, "http://%s:%d/healthz", host, port);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The start of /healthz's body, for the reason of a refusal; the rest is dropped. */
struct body_start {
    char text[HEALTHCHECK_BODY_MAX];
    size_t len;
};

static size_t keep_body_start(char *p, size_t size, size_t n, void *ud)
{
    struct body_start *b = ud;
    size_t room = sizeof(b->text) - 1 - b->len;
    size_t take = size * n < room ? size * n : room;
    memcpy(b->text + b->len, p, take);
    b->len += take;
    b->text[b->len] = '\0';
    return size * n;
}

/* The reason in a body "503 REASON\n": its first line, less the status. */
static const char *body_reason(struct body_start *b, long status)
{
    b->text[strcspn(b->text, "\r\n")] = '\0';
    char prefix[16];
    int n = snprintf(prefix, sizeof(prefix), "%ld ", status);
    const char *r = b->text;
    if (n > 0 && strncmp(r, prefix, (size_t)n) == 0) r += n;
    for (char *p = b->text; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return r;
}

/* GET url within timeout_ms, after a PROXY v1 header if proxy_v1; returns
 * the exit status and says why on failure. */
static int probe(const char *url, uint64_t timeout_ms, int proxy_v1)
{
    CURL *h = curl_easy_init();
    if (h == NULL) {
        fprintf(stderr, "swiftgate healthcheck: curl_easy_init failed\n");
        return 1;
    }
    char cerr[CURL_ERROR_SIZE] = "";
    struct body_start body = {.len = 0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_HAPROXYPROTOCOL, proxy_v1 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_body_start);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "swiftgate-healthcheck/" GW_VERSION);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "swiftgate healthcheck: %s: %s\n", url,
                cerr[0] != '\0' ? cerr : curl_easy_strerror(rc));
        return 1;
    }
    if (status != 200) {
        const char *why = body_reason(&body, status);
        fprintf(stderr, "swiftgate healthcheck: %s: HTTP %ld%s%s\n", url, status,
                why[0] ? ": " : "", why);
        return 1;
    }
    printf("swiftgate healthcheck: %s: HTTP 200\n", url);
    return 0;
}

/* The URL to probe from -c FILE's listen, and whether it expects a PROXY
 * header; 0 or 2 (the exit status). */
static int url_from_conf(const char *path, char *url, size_t len, int *proxy_v1)
{
    struct gw_conf conf;
    char err[1024];
    int rc = gw_conf_load(&conf, path, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "swiftgate healthcheck: %s\n", err);
    } else if (gw_healthcheck_url(conf.listen, url, len) != 0) {
        fprintf(stderr, "swiftgate healthcheck: %s: [server] listen = %s: no port to ask; "
                "give the URL\n", path, conf.listen);
        rc = -1;
    } else if (conf.proxy_protocol == GW_PROXY_V2) {
        fprintf(stderr, "swiftgate healthcheck: %s: [server] proxy_protocol = v2: only a "
                "version 1 PROXY header can be sent; set it to both, or give a URL\n", path);
        rc = -1;
    } else {
        *proxy_v1 = conf.proxy_protocol != GW_PROXY_OFF;
    }
    gw_conf_free(&conf);
    return rc == 0 ? 0 : 2;
}

/* URL as given, with /healthz when it names no path. */
static int url_given(const char *arg, char *url, size_t len)
{
    const char *authority = strstr(arg, "://");
    int n;
    if (authority == NULL) {
        fprintf(stderr, "swiftgate healthcheck: '%s' is not an http:// or https:// URL\n", arg);
        return 2;
    }
    if (strchr(authority + 3, '/') == NULL)
        n = snprintf(url, len, "%s/healthz", arg);
    else
        n = snprintf(url, len, "%s", arg);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "swiftgate healthcheck: URL too long\n");
        return 2;
    }
    return 0;
}

int gw_healthcheck_main(int argc, char **argv)
{
    const char *conf_path = NULL, *arg_url = NULL;
    uint64_t timeout_ms = HEALTHCHECK_DEFAULT_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
            conf_path = argv[++i];
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--timeout") == 0) && i + 1 < argc) {
            if (gw_parse_duration_ms(argv[++i], &timeout_ms) != 0 || timeout_ms == 0) {
                fprintf(stderr, "swiftgate healthcheck: bad timeout '%s'\n", argv[i]);
                return 2;
            }
        } else if (a[0] != '-' && arg_url == NULL) {
            arg_url = a;
        } else {
            fprintf(stderr, "swiftgate healthcheck: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    char url[HEALTHCHECK_URL_MAX];
    int rc, proxy_v1 = 0;
    if (arg_url != NULL)
        rc = url_given(arg_url, url, sizeof(url));
    else if (conf_path != NULL)
        rc = url_from_conf(conf_path, url, sizeof(url), &proxy_v1);
    else
        rc = url_given(GW_HEALTHCHECK_DEFAULT_URL, url, sizeof(url));
    if (rc != 0) return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "swiftgate healthcheck: curl_global_init failed\n");
        return 1;
    }
    rc = probe(url, timeout_ms, proxy_v1);
    curl_global_cleanup();
    return rc;
}

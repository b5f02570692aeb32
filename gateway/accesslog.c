/*
 * accesslog.c - access log lines (accesslog.h).
 *
 *   127.0.0.1 2026-11-24T17:20:01Z "GET /fractal/<uuid> HTTP/1.1" 200 1234 HIT 0.001 0.000
 *
 * peer, time, the request line (URL escaped, cut at 400 bytes), status,
 * body bytes, cache result ("-" for none), total and origin seconds.
 */
#include "accesslog.h"

#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "http.h"
#include "util.h"

#define URL_LOG_MAX 400
#define WHAT_URL_MAX 100

/*
 * The first `max` bytes of a URL, escaped: a client must not be able to
 * forge log lines.  A longer URL ends in "..." after its first max bytes.
 * out needs 4 * max + 4 bytes.
 */
static void escape_url(const char *url, size_t ulen, size_t max, char *out, size_t outlen)
{
    gw_assert(outlen >= 4 * max + 4);
    int cut = ulen > max;
    if (cut) ulen = max;
    size_t e = 0;
    for (size_t i = 0; i < ulen; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch < 0x21 || ch >= 0x7f || ch == '"' || ch == '\\')
            e += (size_t)snprintf(out + e, outlen - e, "\\x%02x", ch);
        else
            out[e++] = (char)ch;
    }
    if (cut) e += (size_t)snprintf(out + e, outlen - e, "...");
    out[e] = '\0';
}

const char *gw_access_what(const char *peer, const struct gw_http_req *req, char *out,
                           size_t len)
{
    char esc[4 * WHAT_URL_MAX + 4];
    size_t ulen;
    const char *url = gw_http_url(req, &ulen);
    escape_url(url, ulen, WHAT_URL_MAX, esc, sizeof(esc));
    const char *m = req->method_known ? llhttp_method_name((llhttp_method_t)req->method) : "-";
    snprintf(out, len, "%s \"%.16s %s\"", peer, m, esc);
    return out;
}

void gw_access_log_write(int fd, const struct gw_access_rec *rec)
{
    const struct gw_http_req *r = rec->req;
    /* Room for every field at its longest: a line always ends in its newline. */
    char line[4 * URL_LOG_MAX + 512], ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t ulen;
    const char *url = gw_http_url(r, &ulen);
    char esc[4 * URL_LOG_MAX + 4];
    escape_url(url, ulen, URL_LOG_MAX, esc, sizeof(esc));
    /* A request refused before its request line was read is logged as "-". */
    char reqline[4 * URL_LOG_MAX + 64] = "-";
    if (r->method_known)
        snprintf(reqline, sizeof(reqline), "%s %s HTTP/%d.%d",
                 llhttp_method_name((llhttp_method_t)r->method), esc, r->http_major,
                 r->http_minor);
    int n = snprintf(line, sizeof(line), "%s %s \"%s\" %d %llu %s %.3f %.3f\n", rec->peer, ts,
                     reqline, rec->status, (unsigned long long)rec->bytes,
                     rec->cache == GW_CACHE_NONE ? "-" : gw_cache_result_name(rec->cache),
                     (double)rec->total_ms / 1000.0, (double)rec->origin_ms / 1000.0);
    if (n <= 0) return;
    if ((size_t)n >= sizeof(line)) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    if (write(fd, line, (size_t)n) < 0) {
        /* A full disk must not stop the serving. */
    }
}

void gw_access_peer(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    snprintf(out, len, "-");
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, out, len);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, out, len);
}

/*
 * accesslog.c - access log lines (accesslog.h).
 *
 * swiftgate (the default):
 *   127.0.0.1 2026-11-24T17:20:01Z "GET /fractal/<uuid> HTTP/1.1" 200 1234 HIT 0.001 0.000
 * peer, time, the request line (URL escaped, cut at 400 bytes), status,
 * body bytes, cache result ("-" for none), total and origin seconds.
 *
 * combined (Apache's and nginx's):
 *   127.0.0.1 - - [24/Nov/2026:17:20:01 +0000] "GET /fractal/<uuid> HTTP/1.1" 200 1234 "referer" "agent"
 *
 * json: one object a line: time, client, method, path, protocol, status,
 * bytes, cache, request_id, range, user_agent, referer, total_s, origin_s;
 * a field the request did not have is null.
 *
 * Every value from the client is escaped for its format (\xNN outside
 * printable ASCII and for quote and backslash; in JSON, \u00NN), so no
 * line can be forged and a JSON line is always valid JSON; a line always
 * ends in its newline, whatever the request.
 */
#include "accesslog.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "http.h"
#include "realip.h"
#include "sink.h"
#include "util.h"

#define URL_LOG_MAX 400
#define WHAT_URL_MAX 100
/* Referer, User-Agent, Range and X-Request-Id are cut at this many bytes. */
#define FIELD_LOG_MAX 200

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

enum gw_access_format gw_access_format_named(const char *name)
{
    if (strcmp(name, "combined") == 0) return GW_ACCESS_COMBINED;
    if (strcmp(name, "json") == 0) return GW_ACCESS_JSON;
    return GW_ACCESS_SWIFTGATE;
}

/* Up to max bytes of v, JSON-escaped (control and non-ASCII bytes as \u00NN). */
static size_t json_escape(const char *v, size_t vlen, size_t max, char *out, size_t outlen)
{
    gw_assert(outlen >= 6 * max + 4);
    int cut = vlen > max;
    if (cut) vlen = max;
    size_t e = 0;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch == '"' || ch == '\\') {
            out[e++] = '\\';
            out[e++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            e += (size_t)snprintf(out + e, outlen - e, "\\u%04x", ch);
        } else {
            out[e++] = (char)ch;
        }
    }
    if (cut) e += (size_t)snprintf(out + e, outlen - e, "...");
    out[e] = '\0';
    return e;
}

/* A request header for the log, escaped as fmt wants; "-" (null in JSON) when absent. */
static const char *log_header(const struct gw_http_req *r, const char *name, int json,
                              char *out, size_t outlen)
{
    size_t len;
    const char *v = r->method_known ? gw_http_header(r, name, &len) : NULL;
    if (v == NULL) return json ? "null" : "-";
    if (json) {
        out[0] = '"';
        size_t e = json_escape(v, len, FIELD_LOG_MAX, out + 1, outlen - 2);
        out[e + 1] = '"';
        out[e + 2] = '\0';
    } else {
        escape_url(v, len, FIELD_LOG_MAX, out, outlen);
    }
    return out;
}

/* The request line, its URL escaped; "-" for a request refused before its
 * request line was read.  out needs REQLINE_MAX bytes. */
#define REQLINE_MAX (4 * URL_LOG_MAX + 64)
static void request_line(const struct gw_http_req *r, char *out)
{
    char esc[4 * URL_LOG_MAX + 4];
    size_t ulen;
    if (!r->method_known) {
        snprintf(out, REQLINE_MAX, "-");
        return;
    }
    const char *url = gw_http_url(r, &ulen);
    escape_url(url, ulen, URL_LOG_MAX, esc, sizeof(esc));
    snprintf(out, REQLINE_MAX, "%s %s HTTP/%d.%d", llhttp_method_name((llhttp_method_t)r->method),
             esc, r->http_major, r->http_minor);
}

/* The swiftgate line into line; its length. */
static int line_swiftgate(const struct gw_access_rec *rec, const char *client, char *line,
                          size_t cap)
{
    char ts[32], reqline[REQLINE_MAX];
    request_line(rec->req, reqline);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return snprintf(line, cap, "%s %s \"%s\" %d %llu %s %.3f %.3f\n", client, ts, reqline,
                    rec->status, (unsigned long long)rec->bytes,
                    rec->cache == GW_CACHE_NONE ? "-" : gw_cache_result_name(rec->cache),
                    (double)rec->total_ms / 1000.0, (double)rec->origin_ms / 1000.0);
}

static int line_combined(const struct gw_access_rec *rec, const char *client, char *line,
                         size_t cap)
{
    char ts[40], ref[4 * FIELD_LOG_MAX + 4], ua[4 * FIELD_LOG_MAX + 4], reqline[REQLINE_MAX];
    request_line(rec->req, reqline);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    return snprintf(line, cap, "%s - - [%s] \"%s\" %d %llu \"%s\" \"%s\"\n", client, ts,
                    reqline, rec->status, (unsigned long long)rec->bytes,
                    log_header(rec->req, "Referer", 0, ref, sizeof(ref)),
                    log_header(rec->req, "User-Agent", 0, ua, sizeof(ua)));
}

/* The request's id as a JSON value: made of safe bytes only, or null. */
static const char *request_id_json(const struct gw_http_req *r, char *out, size_t len)
{
    if (r->request_id[0] == '\0') return "null";
    snprintf(out, len, "\"%s\"", r->request_id);
    return out;
}

static int line_json(const struct gw_access_rec *rec, const char *client, char *line,
                     size_t cap)
{
    const struct gw_http_req *r = rec->req;
    char ts[32], path[6 * URL_LOG_MAX + 4], ref[6 * FIELD_LOG_MAX + 8],
        ua[6 * FIELD_LOG_MAX + 8], rg[6 * FIELD_LOG_MAX + 8], id[6 * FIELD_LOG_MAX + 8];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t ulen;
    const char *url = gw_http_url(r, &ulen);
    json_escape(url, r->method_known ? ulen : 0, URL_LOG_MAX, path, sizeof(path));
    const char *m = r->method_known ? llhttp_method_name((llhttp_method_t)r->method) : NULL;
    return snprintf(line, cap,
                    "{\"time\":\"%s\",\"client\":\"%s\",\"method\":%s%s%s,\"path\":\"%s\","
                    "\"protocol\":\"HTTP/%d.%d\",\"status\":%d,\"bytes\":%llu,\"cache\":%s%s%s,"
                    "\"request_id\":%s,\"range\":%s,\"user_agent\":%s,\"referer\":%s,"
                    "\"total_s\":%.3f,\"origin_s\":%.3f}\n",
                    ts, client, m ? "\"" : "", m ? m : "null", m ? "\"" : "", path,
                    r->http_major, r->http_minor, rec->status, (unsigned long long)rec->bytes,
                    rec->cache == GW_CACHE_NONE ? "" : "\"",
                    rec->cache == GW_CACHE_NONE ? "null" : gw_cache_result_name(rec->cache),
                    rec->cache == GW_CACHE_NONE ? "" : "\"",
                    request_id_json(r, id, sizeof(id)),
                    log_header(r, "Range", 1, rg, sizeof(rg)),
                    log_header(r, "User-Agent", 1, ua, sizeof(ua)),
                    log_header(r, "Referer", 1, ref, sizeof(ref)),
                    (double)rec->total_ms / 1000.0, (double)rec->origin_ms / 1000.0);
}

void gw_access_log_write(int fd, const struct gw_access_rec *rec)
{
    const struct gw_http_req *r = rec->req;
    /* Room for every field at its longest: a line always ends in its newline. */
    char line[6 * URL_LOG_MAX + 24 * FIELD_LOG_MAX + 512];
    char real[64];
    const char *c = gw_realip_client(rec->trusted, rec->peer, r, real, sizeof(real));
    int n = rec->format == GW_ACCESS_JSON       ? line_json(rec, c, line, sizeof(line))
            : rec->format == GW_ACCESS_COMBINED ? line_combined(rec, c, line, sizeof(line))
                                                : line_swiftgate(rec, c, line, sizeof(line));
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

void gw_access_log_sink(int fd, enum gw_access_format format, const char *trusted,
                        const struct gw_sink *s, uint64_t start_ms)
{
    if (fd < 0) return;
    struct gw_access_rec rec = {
        .format = format, .peer = s->peer, .req = s->req, .trusted = trusted,
        .status = s->status, .bytes = s->bytes, .cache = s->cache,
        .total_ms = gw_now_ms() - start_ms, .origin_ms = s->origin_ms,
    };
    gw_access_log_write(fd, &rec);
}

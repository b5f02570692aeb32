/*
 * util.c - allocation that dies on OOM, the error table, the error log.
 *
 * The log writes whole lines with one write(2) each, so lines from several
 * worker threads never interleave.
 */
#include "util.h"

#include "cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

_Atomic int gw_log_level = GW_LOG_INFO;

/*
 * The cache's codes are ours under another name (cache/ includes nothing
 * from gateway/): the same numbers, so gw_strerror() has a text for every
 * error the cache returns.  A cache code without its twin here is a bug.
 */
_Static_assert(GW_CACHE_ENOTFOUND == GW_ENOTFOUND, "GW_CACHE_ENOTFOUND != GW_ENOTFOUND");
_Static_assert(GW_CACHE_ELIMIT == GW_ELIMIT, "GW_CACHE_ELIMIT != GW_ELIMIT");
_Static_assert(GW_CACHE_ECORRUPT == GW_ECORRUPT, "GW_CACHE_ECORRUPT != GW_ECORRUPT");
_Static_assert(GW_CACHE_EUNSAFE == GW_EUNSAFE, "GW_CACHE_EUNSAFE != GW_EUNSAFE");

const char *gw_strerror(int err)
{
    switch (err) {
#define GW_ERR_CASE(code, name, text) case code: return text;
        GW_ERRNO_MAP(GW_ERR_CASE)
#undef GW_ERR_CASE
    case 0:
        return "success";
    default:
        return err < 0 ? strerror(-err) : "unknown error";
    }
}

static void oom(size_t n) __attribute__((noreturn));
static void oom(size_t n)
{
    char buf[96];
    int len = snprintf(buf, sizeof(buf), "swiftgate: out of memory allocating %zu bytes\n", n);
    if (len > 0 && write(2, buf, (size_t)len) < 0) {
        /* Nothing left to tell anyone. */
    }
    abort();
}

void *gw_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) oom(n);
    return p;
}

void *gw_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) oom(n * size);
    return p;
}

void *gw_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) oom(n);
    return q;
}

char *gw_strdup(const char *s)
{
    return gw_strndup(s, strlen(s));
}

char *gw_strndup(const char *s, size_t n)
{
    char *p = gw_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *gw_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    gw_assert(n >= 0);
    char *p = gw_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int gw_log_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0) return i;
    return -1;
}

void gw_log_(int level, const char *module, const char *fmt, ...)
{
    static const char letters[] = "DIWE";
    char line[2048];
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    off += (size_t)snprintf(line + off, sizeof(line) - off, ".%03ldZ [%d] %c %s: ",
                            ts.tv_nsec / 1000000, (int)getpid(),
                            letters[level & 3], module);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof(msg)) n = (int)sizeof(msg) - 1;
    /* Names from clients and from Swift end up in messages: a control
     * byte (a newline in an object name) must not forge a line. */
    for (int i = 0; i < n && off < sizeof(line) - 6; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch < 0x20 || ch == 0x7f)
            off += (size_t)snprintf(line + off, sizeof(line) - off, "\\x%02x", ch);
        else
            line[off++] = (char)ch;
    }
    line[off++] = '\n';
    if (write(2, line, off) < 0) {
        /* stderr is gone; there is nowhere to report that. */
    }
}

void gw_panic(const char *file, int line, const char *what)
{
    gw_log_(GW_LOG_ERROR, "panic", "%s:%d: assertion failed: %s", file, line, what);
    abort();
}

uint64_t gw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int gw_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE) return -1;
    *out = v;
    return 0;
}

void gw_etag_unquote(char *dst, size_t cap, const char *v)
{
    if (v == NULL) v = "";
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

int gw_is_octet_stream(const char *ct)
{
    return ct[0] == '\0' || strncasecmp(ct, "application/octet-stream", 24) == 0;
}

const char *gw_sniff_image_type(const unsigned char *p, size_t n)
{
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return "image/png";
    if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0) return "image/jpeg";
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return "image/gif";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return "image/webp";
    return NULL;
}

int64_t gw_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int gw_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/*
 * util.h - what every gateway file needs: allocation that dies on OOM,
 * project error codes, the error log, magic numbers for structs that cross
 * a void pointer.
 */
#ifndef GW_UTIL_H
#define GW_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define GW_VERSION "0.1.0"

/*
 * Errors are int: 0, -errno for system errors, or one of these (a range no
 * errno reaches).  gw_strerror() knows both.  This is every project code:
 * cache/ cannot include this header, so cache/cache.h defines its own
 * GW_CACHE_E* with the numbers of their twins here (ENOTFOUND, ELIMIT,
 * ECORRUPT, EUNSAFE), and util.c asserts at compile time that each pair agrees.
 */
#define GW_ERRNO_MAP(X)                                                     \
    X(-20001, EPARSE, "malformed input")                                    \
    X(-20002, EAUTH, "authentication with Swift failed")                    \
    X(-20003, EORIGIN, "origin error")                                      \
    X(-20004, ETIMEOUT, "timed out")                                        \
    X(-20005, ESHORT, "origin body shorter than announced")                 \
    X(-20006, EDIGEST, "body does not match its ETag")                      \
    X(-20007, ECONF, "bad configuration")                                   \
    X(-20008, ENOTFOUND, "not found")                                       \
    X(-20009, ELIMIT, "limit reached")                                      \
    X(-20010, ECLOSED, "peer closed the connection")                       \
    X(-20011, ECORRUPT, "cache index record unreadable")                    \
    X(-20012, EBUSY, "too many requests to Swift waiting")                  \
    X(-20013, EBADHEADER, "origin sent a malformed header")                 \
    X(-20014, EUNSAFE, "unsafe file or directory in the cache")

enum {
#define GW_ERR_ENUM(code, name, text) GW_##name = (code),
    GW_ERRNO_MAP(GW_ERR_ENUM)
#undef GW_ERR_ENUM
};

const char *gw_strerror(int err);

/*
 * Allocation: never returns NULL; an out-of-memory is fatal.  The one
 * allocation with a better answer, a new connection's own memory, calls
 * malloc itself and refuses the connection (memguard.h); the watermarks
 * there keep the others from being reached.
 */
void *gw_malloc(size_t n);
void *gw_calloc(size_t n, size_t size);
void *gw_realloc(void *p, size_t n);
char *gw_strdup(const char *s);
char *gw_strndup(const char *s, size_t n);
char *gw_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The error log goes to stderr, one line per event:
 *   2026-11-24T17:20:01.123Z [4242] W origin: GET fractals/<uuid>: 503 ...
 * Never put a token or key into a log line.
 */
enum gw_log_level { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARNING, GW_LOG_ERROR };
/* Every thread reads it, a reload (main thread) may change it: atomic. */
extern _Atomic int gw_log_level;

int gw_log_level_parse(const char *s);
void gw_log_(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define gw_log(level, module, ...)                                          \
    do {                                                                    \
        if ((level) >= gw_log_level) gw_log_(level, module, __VA_ARGS__);   \
    } while (0)
#define gw_debug(module, ...) gw_log(GW_LOG_DEBUG, module, __VA_ARGS__)
#define gw_info(module, ...) gw_log(GW_LOG_INFO, module, __VA_ARGS__)
#define gw_warn(module, ...) gw_log(GW_LOG_WARNING, module, __VA_ARGS__)
#define gw_error(module, ...) gw_log(GW_LOG_ERROR, module, __VA_ARGS__)

/* A broken invariant: log where, then abort. */
#define gw_assert(cond)                                                     \
    do {                                                                    \
        if (!(cond)) gw_panic(__FILE__, __LINE__, #cond);                   \
    } while (0)
void gw_panic(const char *file, int line, const char *what)
    __attribute__((noreturn));

/*
 * Structs reached through handle->data, CURLOPT_PRIVATE or llhttp_t.data
 * carry a magic first member: checked on every entry, zeroed when freed.
 */
#define GW_CHECK_MAGIC(p, m)                                                \
    do {                                                                    \
        gw_assert((p) != NULL);                                             \
        gw_assert((p)->magic == (m));                                       \
    } while (0)

/* Milliseconds of a monotonic clock. */
uint64_t gw_now_ms(void);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void gw_hex(const unsigned char *in, size_t n, char *out);

/* A decimal number that is the whole of s: 0, or -1 (NULL, junk, overflow). */
int gw_parse_u64(const char *s, uint64_t *out);
/* All len bytes of buf to fd at off (pwrite, again after EINTR); 0 or -errno. */
int gw_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/* An ETag without its quotes (Swift quotes only manifests' ETags). */
void gw_etag_unquote(char *dst, size_t cap, const char *v);

/* 1 for a Content-Type that says nothing: empty or application/octet-stream. */
int gw_is_octet_stream(const char *content_type);

/* The image type the first bytes announce (PNG, JPEG, GIF, WebP), or NULL. */
const char *gw_sniff_image_type(const unsigned char *p, size_t n);
#define GW_SNIFF_BYTES 16

/* Unix time in milliseconds. */
int64_t gw_wall_ms(void);

#endif

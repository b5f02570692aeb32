/*
 * cors.h - Cross-Origin Resource Sharing for the answers to /fractal/
 * ([cors] section), so that a front end on another origin may fetch() an
 * image, read its headers and draw it on a canvas it can read back.
 *
 * `allow_origin` is "" (off: no CORS line anywhere), "*" (any origin), or
 * a list of origins; with a list, the request's Origin is echoed when it is
 * on it, and every object answer says `Vary: Origin`, so that a shared
 * cache never hands one origin's answer to another.
 */
#ifndef GW_CORS_H
#define GW_CORS_H

struct gw_buf;
struct gw_conf;
struct gw_http_req;
struct gw_sink;

/* The CORS lines of an object answer to req, appended to b (none when off,
 * or when req's Origin is not allowed, but Vary for a list). */
void gw_cors_headers(struct gw_buf *b, const struct gw_conf *conf, const struct gw_http_req *req);

/* The whole answer to an OPTIONS preflight of /fractal/<uuid>: 204. */
void gw_cors_preflight(struct gw_sink *s, const struct gw_conf *conf);

/* [cors] allow_origin's check: NULL, or what is wrong with v. */
const char *gw_cors_check_origins(const char *v);

#endif

/*
 * realip.h - the real client behind trusted proxies ([server]
 * trusted_proxies): from a peer on that list, the client is the last
 * address of X-Forwarded-For that is not itself a trusted proxy, as
 * nginx's real_ip_recursive and Varnish's client.ip behind HAProxy give.
 */
#ifndef GW_REALIP_H
#define GW_REALIP_H

#include <stddef.h>

struct gw_http_req;

/* The client of req, which came from peer, into out (peer itself when
 * trusted is "" or peer is not on it, or the header says nothing usable). */
const char *gw_realip_client(const char *trusted, const char *peer,
                             const struct gw_http_req *req, char *out, size_t len);

/* [server] trusted_proxies' check: NULL, or what is wrong with v. */
const char *gw_realip_check(const char *v);

#endif

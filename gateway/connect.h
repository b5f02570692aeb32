/*
 * connect.h - `swiftgate check-config --connect`: one auth request and one
 * HEAD of the container, to tell whether a configuration reaches its Swift.
 */
#ifndef GW_CONNECT_H
#define GW_CONNECT_H

struct gw_conf;

/*
 * Authenticate once with conf's credentials (no request with static ones)
 * and HEAD <storage URL>/<container> with the token, on a loop of its own,
 * each bounded by conf's connect and first-byte timeouts.  Prints each
 * step on stdout.  Returns 0 when both succeeded,
 * else 1 after one line on stderr saying why (Swift's refusal, curl's
 * error, a missing container).  Needs curl_global_init() done.
 */
int gw_connect_check(const struct gw_conf *conf);

#endif

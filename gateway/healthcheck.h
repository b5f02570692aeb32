/*
 * healthcheck.h - the `swiftgate healthcheck` command: ask a gateway's
 * /healthz and turn its answer into an exit status, so that a container
 * image or a supervisor can probe the gateway without curl.
 */
#ifndef GW_HEALTHCHECK_H
#define GW_HEALTHCHECK_H

#include <stddef.h>

/* Default URL probed when neither a URL nor -c FILE is given. */
#define GW_HEALTHCHECK_DEFAULT_URL "http://127.0.0.1:8080/healthz"

/*
 * Run `swiftgate healthcheck`; argv[0] is "healthcheck", the options follow
 * (see `swiftgate healthcheck --help`).  Returns the process exit status:
 * 0 when the gateway answered 200, 1 when it answered anything else, could
 * not be reached or did not answer in time, 2 on bad usage or a bad
 * configuration.  Calls curl_global_init() and curl_global_cleanup()
 * itself, so it must run while no other thread uses libcurl.
 */
int gw_healthcheck_main(int argc, char **argv);

/*
 * The /healthz URL of a gateway listening on `listen` ("host:port", as
 * [server] listen): a wildcard address becomes the loopback address of its
 * family.  Writes at most `len` bytes (NUL included) to buf.  Returns 0, or
 * -1 when listen does not parse, its port is 0 (a port chosen at start
 * cannot be known from the file), or buf is too small.
 */
int gw_healthcheck_url(const char *listen, char *buf, size_t len);

#endif

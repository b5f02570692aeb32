/*
 * warm.h - the `swiftgate warm` command: fill the cache of a gateway, or of
 * a fleet behind a balancer, from a list of fractals.
 */
#ifndef GW_WARM_H
#define GW_WARM_H

/*
 * Run `swiftgate warm`; argv[0] is "warm", the options follow (see
 * `swiftgate warm --help`).  Reads the list, warms every fractal once,
 * prints progress and a summary on stderr (and, with --summary-json, one
 * JSON object on stdout).  Returns the process exit status: 0 when every
 * fractal is in the cache (or cannot be cached), 1 when a line was bad, a
 * fractal was not found or a request failed, 2 on bad usage or an
 * unreadable list, 128 + the signal number after SIGINT or SIGTERM.
 * Calls curl_global_init() and curl_global_cleanup() itself, so it must
 * run while no other thread uses libcurl.
 */
int gw_warm_main(int argc, char **argv);

#endif

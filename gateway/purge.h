/*
 * purge.h - the `swiftgate purge` command: purge fractals from the caches
 * of several gateways through their admin listeners, and report each.
 */
#ifndef GW_PURGE_H
#define GW_PURGE_H

/*
 * Run `swiftgate purge`; argv[0] is "purge", the options follow (see
 * `swiftgate purge --help`).  Prints one line per gateway and uuid on
 * stdout and a count on stderr.  Returns the exit status: 0 when every
 * gateway answered every purge (purged or not cached), 1 when any purge
 * failed, 2 on bad usage.  Calls curl_global_init() and
 * curl_global_cleanup() itself, so it must run while no other thread uses
 * libcurl.
 */
int gw_purge_main(int argc, char **argv);

#endif

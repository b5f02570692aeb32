/*
 * backup.h - the `swiftgate backup` command: copy every image the Fractals
 * API lists into Swift, directly or through a gateway's PUT.
 */
#ifndef GW_BACKUP_H
#define GW_BACKUP_H

/*
 * Run `swiftgate backup`; argv[0] is "backup", the options follow (see
 * `swiftgate backup --help`).  Lists every fractal, copies each one Swift
 * does not hold yet with the same MD5, prints progress and a summary on
 * stderr (with --summary-json, one JSON object on stdout).  Returns the
 * process exit status: 0 when every listed fractal is stored and verified,
 * 1 when one failed or the listing was bad, 2 on bad usage, a bad
 * configuration or a token Swift refused, 128 + the signal number after
 * SIGINT or SIGTERM.  Calls curl_global_init() and curl_global_cleanup()
 * itself, so it must run while no other thread uses libcurl.
 */
int gw_backup_main(int argc, char **argv);

#endif

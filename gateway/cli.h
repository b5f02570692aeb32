/*
 * cli.h - pieces the client commands (`swiftgate warm`, `swiftgate purge`)
 * share: reading an option's value and checking a gateway's base URL.
 */
#ifndef GW_CLI_H
#define GW_CLI_H

/*
 * The value of option argv[*i] in any of its spellings ("-j 8", "-j8",
 * "--concurrency 8", "--concurrency=8"); sopt may be NULL.  *matched says
 * whether argv[*i] is the option at all; the value is NULL when it came
 * last without one.  *i moves past a value taken from the next argument.
 */
const char *gw_cli_opt_value(int argc, char **argv, int *i, const char *sopt, const char *lopt,
                             int *matched);

/*
 * A gateway or API URL as a base to append paths to: http:// or https://,
 * a host, no whitespace, control or non-ASCII byte, no query or fragment.
 * Returns a malloc'd copy without trailing '/', or NULL when s is not one.
 */
char *gw_cli_base_url(const char *s);

#endif

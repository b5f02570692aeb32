/*
 * conf_int.h - what the files of the configuration module share.  Nothing
 * outside gateway/conf*.c includes it; the rest of the gateway sees conf.h.
 *
 *   conf_value.c  one value's syntax, read and written back
 *   conf.c        the key table, loading, checks and check-config
 */
#ifndef GW_CONF_INT_H
#define GW_CONF_INT_H

#include "conf.h"

#include <stddef.h>
#include <stdint.h>

/* ---- conf_value.c ----------------------------------------------------- */

/*
 * The parsers below tell a malformed value (GW_CONF_BAD) from one that is
 * well formed but does not fit in 64 bits (GW_CONF_OVERFLOW), so that an
 * error message can say which; the gw_parse_* wrappers of conf.h fold both
 * into -1.  On error *out and *sp are left alone.
 */
enum { GW_CONF_BAD = -1, GW_CONF_OVERFLOW = -2 };

/* One or more decimal digits at *sp, no sign, no spaces; *sp is moved past
 * them.  What follows the digits is the caller's business. */
int gw_conf_parse_digits(const char **sp, uint64_t *out);

/* All of s as a size in bytes or a duration in milliseconds, in the syntax
 * gw_parse_size() and gw_parse_duration_ms() describe in conf.h. */
int gw_conf_parse_size(const char *s, uint64_t *out);
int gw_conf_parse_duration(const char *s, uint64_t *out);

/*
 * v in the largest unit that divides it exactly ("16K", "90m", "1500ms",
 * "0s"), so that it reads back as the same number.  buf is always
 * NUL-terminated; 32 bytes hold any value.
 */
void gw_conf_fmt_size(uint64_t v, char *buf, size_t len);
void gw_conf_fmt_duration(uint64_t ms, char *buf, size_t len);

#endif

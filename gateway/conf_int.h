/*
 * conf_int.h - what the files of the configuration module share.  Nothing
 * outside gateway/conf*.c includes it; the rest of the gateway sees conf.h.
 *
 *   conf_value.c  one value's syntax, read and written back
 *   conf_keys.c   the table of keys, and setting one key from text
 *   conf.c        loading, the checks between keys, check-config
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

/* ---- conf_keys.c ------------------------------------------------------ */

enum gw_conf_type {
    GW_CONF_STR,      /* char *, any text, optionally vetted by check() */
    GW_CONF_WORD,     /* char *, one of choices[], stored in its canonical spelling */
    GW_CONF_INT,      /* int: one of choices[], or a number in min..max if max > 0 */
    GW_CONF_COUNT,    /* uint64_t: a plain number in min..max (max 0: no limit) */
    GW_CONF_SIZE,     /* uint64_t bytes, "512K" etc., min..max (max 0: no limit) */
    GW_CONF_DURATION, /* uint64_t milliseconds, "30s" etc., min..max as above */
    GW_CONF_BOOL,     /* int 0/1 */
};

enum {
    GW_CONF_SECRET = 1 << 0,     /* never printed, only "(set)" */
    GW_CONF_REQ_V1 = 1 << 1,     /* must be non-empty when auth_version = 1 */
    GW_CONF_REQ_V3 = 1 << 2,     /* ... = 3 */
    GW_CONF_REQ_STATIC = 1 << 3, /* ... = static */
    GW_CONF_RESTART = 1 << 4,    /* read once at start: a reload keeps the running value */
};

struct gw_conf_choice {
    const char *word;
    int value;
};

struct gw_conf_key {
    const char *section;
    const char *name;
    enum gw_conf_type type;
    const char *def;                      /* NULL: empty string */
    size_t off;                           /* into struct gw_conf */
    uint64_t min, max;
    const struct gw_conf_choice *choices; /* ends with a NULL word */
    const char *(*check)(const char *v);  /* NULL if fine, else the reason */
    unsigned flags;
};

/*
 * Every key, one row each, the rows of a section together and in the order
 * check-config prints them.  GW_CONF_NKEYS is their number, a constant so
 * that per-key arrays need no allocation; conf_keys.c does not compile when
 * it and the table disagree.  (The array is declared without its size here
 * on purpose: with it, a table one row short would compile, padded with a
 * row of zeros.)
 */
#define GW_CONF_NKEYS 69
extern const struct gw_conf_key gw_conf_keys[];

/* The char * that key k (a GW_CONF_STR or GW_CONF_WORD row) sets in c. */
char **gw_conf_str_field(struct gw_conf *c, const struct gw_conf_key *k);

/*
 * Parse v as key k's type and store it in c: 0 (a string field's old value
 * freed), or -1 with c untouched and what was expected in why.  This is the
 * one path for defaults, the file and the environment alike.
 */
int gw_conf_set_value(struct gw_conf *c, const struct gw_conf_key *k, const char *v,
                      char *why, size_t whylen);

/*
 * Key k's value in c as the file would spell it, so that it reads back as
 * the same value; a secret that is set is "(set)".  buf is always
 * NUL-terminated.
 */
void gw_conf_fmt_value(const struct gw_conf *c, const struct gw_conf_key *k, char *buf,
                       size_t len);

#endif

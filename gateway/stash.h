/*
 * stash.h - input read from a connection but not parsed yet.
 *
 * What follows a whole request in the bytes read (pipelined requests) and
 * what arrives while a request is answered wait here, in order, for the
 * next gw_http_feed().  The stash never holds more than the caller's bound.
 */
#ifndef GW_STASH_H
#define GW_STASH_H

#include <stddef.h>

struct gw_stash {
    char *buf;
    size_t off, len;            /* the kept bytes are buf[off, off + len) */
    size_t cap;
};

/* The kept bytes, and how many. */
static inline const char *gw_stash_data(const struct gw_stash *s)
{
    return s->buf + s->off;
}

/*
 * Room to read into after the kept bytes, so that at most max are kept:
 * *room bytes at the returned address (0 when full).  Commit what was read
 * with gw_stash_grow().
 */
char *gw_stash_room(struct gw_stash *s, size_t max, size_t *room);
void gw_stash_grow(struct gw_stash *s, size_t n);

/*
 * A whole request was parsed from data; the rest bytes at pos follow it.
 * Keep them: in place when data was the stash, copied otherwise (data was
 * a read buffer that the next read overwrites).
 */
void gw_stash_keep(struct gw_stash *s, const char *data, const char *pos, size_t rest);

/* Forget the kept bytes, keeping the buffer; or release it all. */
void gw_stash_clear(struct gw_stash *s);
void gw_stash_free(struct gw_stash *s);

#endif

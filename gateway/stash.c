/*
 * stash.c - input read but not parsed yet (stash.h).
 */
#include "stash.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

char *gw_stash_room(struct gw_stash *s, size_t max, size_t *room)
{
    if (s->off > 0) {
        memmove(s->buf, s->buf + s->off, s->len);
        s->off = 0;
    }
    if (s->cap < max) {
        s->buf = gw_realloc(s->buf, max);
        s->cap = max;
    }
    *room = s->len < max ? max - s->len : 0;
    return s->buf + s->len;
}

void gw_stash_grow(struct gw_stash *s, size_t n)
{
    gw_assert(s->off + s->len + n <= s->cap);
    s->len += n;
}

void gw_stash_keep(struct gw_stash *s, const char *data, const char *pos, size_t rest)
{
    int from_stash = s->buf && data >= s->buf && data <= s->buf + s->off + s->len;
    if (rest == 0) {
        s->off = s->len = 0;
    } else if (from_stash) {
        s->off = (size_t)(pos - s->buf);
        s->len = rest;
    } else {
        char *copy = gw_malloc(rest);
        memcpy(copy, pos, rest);
        free(s->buf);
        s->buf = copy;
        s->cap = rest;
        s->off = 0;
        s->len = rest;
    }
}

void gw_stash_clear(struct gw_stash *s)
{
    s->off = s->len = 0;
}

void gw_stash_free(struct gw_stash *s)
{
    free(s->buf);
    s->buf = NULL;
    s->off = s->len = s->cap = 0;
}

/*
 * replay.h - the per-object headers Swift keeps that swiftgate passes on:
 * Cache-Control, Expires and Content-Disposition, as an object's owner set
 * them with `swift post -H`.  They are taken from Swift's answer to a fill,
 * kept with the cache entry (its `meta` record) and sent with every answer
 * from it.
 *
 * A replay string is "Name: value\r\n" lines in the order of
 * GW_REPLAY_NAMES, at most GW_REPLAY_MAX bytes with its NUL; a header whose
 * line would not fit is left out whole.  Values come from gw_fetch_header,
 * so they hold no control byte and can be copied into a head as they are.
 */
#ifndef GW_REPLAY_H
#define GW_REPLAY_H

#include <stddef.h>


struct gw_buf;
struct gw_fetch;

#define GW_REPLAY_MAX 512

/* Fill out[cap] with the replayed headers of Swift's answer ("" if none). */
void gw_replay_collect(const struct gw_fetch *fe, char *out, size_t cap);

/* 1 if replay holds a Cache-Control line: it wins over [cache] cache_control. */
int gw_replay_has_cache_control(const char *replay);

/*
 * Append replay's lines to a head.  A 304 carries Cache-Control and
 * Expires only (RFC 9110 15.4.5: not the representation's other fields).
 * replay may be NULL.
 */
void gw_replay_write(struct gw_buf *b, const char *replay, int status);

#endif

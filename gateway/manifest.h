/*
 * manifest.h - Swift's large objects as a segment plan.
 *
 * A large object (SLO or DLO) is served by concatenating segments, each a
 * plain object of its own (or, for an SLO, a few inline bytes).  This module
 * turns what Swift tells about one (an SLO manifest, DLO listing pages) into
 * a struct gw_plan: the ordered segments, the bytes of each that are used,
 * the whole object's length and its ETag as Swift computes it.  It does no
 * I/O; the caller fetches the manifests and listings and hands over bodies.
 * slo.c parses SLO manifests, dlo.c DLO manifests and listings, plan.c
 * does the rest (manifest_int.h is only what those three share).
 *
 * Ownership: a plan owns every byte it points to (segment names, inline
 * data).  A plan is a plain struct the caller owns; zero it (or let a parse
 * function fill it) before use, release it with gw_plan_free().  Nothing
 * here keeps global state, so plans may be built on any thread.
 *
 * Errors are ints: 0, GW_EPARSE (the input is not what Swift sends), GW_ELIMIT
 * (a size limit of this module), GW_EDIGEST (a sub-SLO does not match the
 * entry that names it).  Functions taking `why` set *why (when why is not
 * NULL) to a short static English reason on every error; it is never freed.
 * On error, the output plan is left as it was before the call (for the
 * parse functions: zeroed), so there is never a half-built plan to undo.
 */
#ifndef GW_MANIFEST_H
#define GW_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

/* Swift's names: container and object lengths in bytes (constraints.py). */
#define GW_CONTAINER_MAX 256
#define GW_OBJECT_MAX 1024

/* Swift's slo.py defaults: max_manifest_segments (object-backed segments of
 * one manifest; inline data segments do not count) and
 * max_slo_recursion_depth (the top manifest is depth 1). */
#define GW_SLO_MAX_SEGMENTS 1000
#define GW_SLO_MAX_DEPTH 10

/* Ours: the most segments any plan may hold, whatever built it (every DLO
 * page, every expanded sub-SLO), and the highest [swift] max_segments.  A
 * plan's own limits (gw_plan_limit) are usually far lower. */
#define GW_PLAN_MAX_SEGMENTS 100000

/* Every size and offset fits an off_t / curl_off_t. */
#define GW_PLAN_MAX_BYTES ((uint64_t)INT64_MAX)

enum gw_plan_kind { GW_PLAN_NONE = 0, GW_PLAN_SLO = 1, GW_PLAN_DLO = 2 };

/*
 * One segment.  For an object-backed segment, container/object name the
 * plain object to GET (unencoded UTF-8: percent-encode them in a URL; the
 * object part may hold slashes).  For an inline data segment, data is set,
 * container and object are "" and size == data_len.
 *
 * The segment contributes bytes [range_start, range_start + range_len) of
 * itself to the whole object.  When range_start == 0 && range_len == size
 * (gw_segment_whole) the whole object is used and its body can be checked
 * against etag with an MD5; a ranged segment can only be checked by its
 * response's ETag header and Content-Range.
 */
struct gw_segment {
    char *container;        /* owned by the plan; "" for data */
    char *object;           /* points into the same allocation as container */
    uint64_t size;          /* the whole segment object's size (SLO "bytes") */
    char etag[33];          /* expected MD5, lower-case hex as Swift gave it
                             * (compare case-insensitively); for a sub_slo
                             * entry, the sub-SLO's own SLO ETag; for data,
                             * the MD5 of the data */
    uint64_t range_start;   /* first byte of the segment that is used */
    uint64_t range_len;     /* how many bytes are used (may be 0) */
    uint64_t offset;        /* where those bytes start in the whole object */
    unsigned char *data;    /* inline SLO data segment, else NULL */
    size_t data_len;
    int sub_slo;            /* an SLO itself: size is its total, and the
                             * range is over its concatenated segments */
    int depth;              /* manifest level that listed it: 1 = the top */
};

struct gw_plan {
    int kind;               /* enum gw_plan_kind */
    size_t n;               /* segments */
    size_t cap;             /* allocated segments (internal) */
    struct gw_segment *seg;
    uint64_t total;         /* the whole object's length: sum of range_len */
    char etag[33];          /* its ETag as Swift reports it, unquoted;
                             * "" for a DLO until gw_dlo_finish() */
    size_t bytes;           /* its encoded size (gw_plan_encode), kept by
                             * every function that builds or changes it */
    size_t max_segments;    /* its limits (gw_plan_limit); 0: */
    size_t max_bytes;       /*   GW_PLAN_MAX_SEGMENTS, and no byte limit */
};

/* One stretch of a byte range, within one segment. */
struct gw_piece {
    size_t seg;             /* index into plan->seg */
    uint64_t offset;        /* first byte within the segment object (or the
                             * data, or the sub-SLO's concatenation) */
    uint64_t len;           /* >= 1 */
};

static inline int gw_segment_whole(const struct gw_segment *s)
{
    return s->range_start == 0 && s->range_len == s->size;
}

/*
 * Bound p to at most max_segments segments (0: GW_PLAN_MAX_SEGMENTS; more
 * than that is a bug) and max_bytes bytes of its encoded form (0: no byte
 * limit), now and as it grows: gw_dlo_listing_add() and gw_plan_expand()
 * refuse, with GW_ELIMIT, a page or a sub-SLO that would take it past
 * them, before building anything of it.  Call it on a zeroed plan before
 * its first listing page, or on an SLO plan just parsed.  0, or GW_ELIMIT
 * (p already passes them; p keeps its segments) with why "too many
 * segments" or "plan too large".
 */
int gw_plan_limit(struct gw_plan *p, size_t max_segments, size_t max_bytes, const char **why);

/*
 * Parse the body of `GET <obj>?multipart-manifest=get` of an SLO (a JSON
 * list of {"name": "/container/object", "bytes", "hash", optional "range"
 * "M-N" | "M-" | "-N", optional "sub_slo": true} and {"data": base64}
 * entries; other keys are ignored) into *out, a new SLO plan whose etag is
 * Swift's SLO ETag: md5 over the entries of hash, "hash:M-N;" for a ranged
 * one (the range normalised to M-N) or md5-hex(data) for a data entry.
 *
 * max_segments: the most object-backed entries allowed (Swift's
 * max_manifest_segments); 0 means GW_SLO_MAX_SEGMENTS.  The caller bounds
 * the body's length before reading it (Swift's max_manifest_size is 8 MiB).
 * A legacy sub-SLO entry whose content_type has ";swift_bytes=N" gets
 * size N, as in Swift.  Entries get depth 1.
 *
 * 0, or GW_EPARSE (not JSON, not a list, an empty list, only data entries,
 * an entry missing or mistyping a key, a bad name, hash, base64 or range, a
 * range out of the segment, more than max_segments object entries or
 * GW_PLAN_MAX_SEGMENTS entries, a total over GW_PLAN_MAX_BYTES).
 */
int gw_slo_parse(const char *json, size_t len, size_t max_segments, struct gw_plan *out,
                 const char **why);

/*
 * Replace parent->seg[index], a sub_slo entry, by the segments of child
 * (the gw_slo_parse() of that sub-SLO's manifest), cut to the entry's range:
 * a child segment the range cuts keeps its name and etag with a narrower
 * range.  child is not changed and may be freed afterwards (its bytes are
 * copied).  The parent's total and etag do not change; offsets are updated.
 * New segments get depth = the entry's depth + their depth in child, so
 * nesting is counted by the plan itself: an entry of depth
 * GW_SLO_MAX_DEPTH cannot be expanded (Swift's max_slo_recursion_depth).
 *
 * Expansion is optional: gw_plan_cover() treats an unexpanded sub_slo entry
 * as one segment, so a caller may instead cover the child with the piece's
 * offset and length (and expand only what a range touches, as Swift does).
 *
 * 0; GW_EDIGEST (child's total differs from the entry's size, or its etag
 * from the entry's etag: the sub-SLO was replaced since the parent was
 * written); GW_ELIMIT (too deep, or past the parent's limits: see
 * gw_plan_limit); GW_EPARSE (child is not an SLO plan).  Calling it
 * on an index that is not a sub_slo entry of an SLO plan is a bug (assert).
 */
int gw_plan_expand(struct gw_plan *parent, size_t index, const struct gw_plan *child,
                   const char **why);

/*
 * Append one page of a JSON container listing (`GET <container>?prefix=P
 * [&marker=M]`, format json: [{"name", "hash", "bytes", ...}]) to plan as
 * whole segments of `container`.  A zeroed plan becomes a DLO plan.  Names
 * must ascend strictly (byte order), within the page and after the page
 * before.  A hash may be quoted; its MD5 (before any "; param") is kept.
 *
 * *count_out (if not NULL) gets the page's entry count and last_name (if not
 * NULL; last_cap >= GW_OBJECT_MAX + 1) the last name, or "" for an empty
 * page.  The caller asks for the next page with marker=last_name while a
 * page is full (as many entries as the listing limit, 10000 by default), and
 * then calls gw_dlo_finish().  Zero-byte entries are kept: their hash is
 * part of the DLO ETag (a non-empty manifest object matching its own prefix
 * is listed too, as Swift does).
 *
 * 0; GW_EPARSE (not a JSON list, an entry that is not {name, hash, bytes}
 * with a valid name, an MD5 hash and bytes 0..GW_PLAN_MAX_BYTES, names out
 * of order, a total over GW_PLAN_MAX_BYTES, a bad container); GW_ELIMIT
 * (past the plan's limits, see gw_plan_limit: checked on each page before
 * it is built, so a listing is never read whole first).  On error the plan
 * is unchanged.
 */
int gw_dlo_listing_add(struct gw_plan *plan, const char *json, size_t len, const char *container,
                       size_t *count_out, char *last_name, size_t last_cap, const char **why);

/*
 * The listing is complete: set plan->etag to Swift's DLO ETag, md5 of the
 * concatenated segment hashes (md5("") = d41d8cd98f00b204e9800998ecf8427e
 * for no segments, then total is 0).  A zeroed plan becomes an empty DLO.
 * Always 0.
 */
int gw_dlo_finish(struct gw_plan *plan);

/*
 * Split an X-Object-Manifest value "<container>/<prefix>" as Swift's dlo.py
 * does: the raw value must have non-empty parts around its first '/', no
 * '?' or '&', and a prefix not starting with '/' (what Swift checks at PUT);
 * then the whole value is percent-decoded (an invalid %-escape stays as it
 * is, '+' is not a space) and split at its first '/'.  The decoded parts
 * must be non-empty UTF-8 without NUL and fit: container at most
 * GW_CONTAINER_MAX bytes (and ccap), prefix at most GW_OBJECT_MAX (and pcap).
 * 0 or GW_EPARSE.
 */
int gw_dlo_manifest_parse(const char *value, char *container, size_t ccap, char *prefix,
                          size_t pcap);

/*
 * Map bytes [first, last] (inclusive) of the whole object onto segments: up
 * to max pieces go to out, in order; the return value is how many pieces
 * the range needs (call again with a bigger out when it exceeds max).
 * Segments with no bytes are skipped; data and sub_slo entries are pieces
 * like any other.  0 when the range is empty or not inside the object
 * (first > last or last >= total): resolve the HTTP Range against
 * plan->total first.  O(log n + pieces).
 */
size_t gw_plan_cover(const struct gw_plan *p, uint64_t first, uint64_t last, struct gw_piece *out,
                     size_t max);

/* Release everything p owns and zero it.  NULL and zeroed plans are fine. */
void gw_plan_free(struct gw_plan *p);

/*
 * A byte form of a finished plan (SLO, or DLO after gw_dlo_finish) for the
 * manifest's cache entry: versioned, every length checked, with an MD5 over
 * the whole.  *buf (*len bytes) is the caller's to free().  Always 0;
 * encoding a plan that is not finished (kind NONE, or a DLO before
 * gw_dlo_finish) is a bug (assert).
 */
int gw_plan_encode(const struct gw_plan *p, unsigned char **buf, size_t *len);

/*
 * The plan back from gw_plan_encode()'s bytes into *out (the caller frees
 * it with gw_plan_free).  0, or GW_EPARSE (and *out zeroed) for anything
 * but a whole, intact buffer of a known version describing a consistent
 * plan.
 */
int gw_plan_decode(const unsigned char *buf, size_t len, struct gw_plan *out);

#endif

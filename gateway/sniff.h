/*
 * sniff.h - the first bytes of a body, kept to tell an image's type when
 * Swift says only application/octet-stream (gw_sniff_image_type).
 */
#ifndef GW_SNIFF_H
#define GW_SNIFF_H

#include <stddef.h>
#include <string.h>

#include "util.h"

struct gw_sniff {
    unsigned char b[GW_SNIFF_BYTES];
    size_t n;
};

/* Keep what of buf fits; returns how many bytes of buf were kept. */
static inline size_t gw_sniff_add(struct gw_sniff *s, const void *buf, size_t len)
{
    size_t n = len < GW_SNIFF_BYTES - s->n ? len : GW_SNIFF_BYTES - s->n;
    memcpy(s->b + s->n, buf, n);
    s->n += n;
    return n;
}

static inline int gw_sniff_full(const struct gw_sniff *s)
{
    return s->n == GW_SNIFF_BYTES;
}

/* The type the bytes kept announce, or application/octet-stream. */
static inline const char *gw_sniff_type(const struct gw_sniff *s)
{
    const char *t = gw_sniff_image_type(s->b, s->n);
    return t ? t : "application/octet-stream";
}

#endif

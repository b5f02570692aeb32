/*
 * assemble.h - the bytes of a large object, put together from its segments.
 *
 * A struct gw_asm streams byte ranges of a large object (a struct gw_plan)
 * to one client's sink.  Each segment is a cache key of its own: a
 * verified segment in the cache is sent from its blob; a missing one is
 * fetched by a fill (fill.c) that checks it against the plan (size and MD5)
 * before it is cached, and that any other request needing the same segment
 * joins.  Up to [swift] segment_parallelism segments are looked up and
 * fetched ahead of the one being sent; memory stays bounded because fills
 * write to disk and this reads back only what the connection can take.
 *
 * Nothing here decides the response head.  With `hold`, a range waits until
 * its first bytes are at hand (a hit, inline data, or a fill whose Swift
 * answer matched the plan) and reports GW_ASM_READY, so the caller can still
 * answer 502 if a segment is missing or changed; bytes go out once the
 * caller pumps again.  A failure after bytes went out can only be reported;
 * the caller cuts the connection.
 *
 * Events are reported through cb, from gw_asm_pump() or from the loop (fill
 * events, the thread pool), never from gw_asm_new() or gw_asm_range().
 * After GW_ASM_DONE or GW_ASM_FAILED no event follows until the next
 * gw_asm_range().
 */
#ifndef GW_ASSEMBLE_H
#define GW_ASSEMBLE_H

#include <stdint.h>

struct gw_asm;
struct gw_plan_ref;
struct gw_services;
struct gw_sink;

enum gw_asm_event {
    GW_ASM_READY,   /* a held range can start: send the head, then pump */
    GW_ASM_DONE,    /* the range is queued (sink: every segment is cached) */
    GW_ASM_FAILED,  /* see gw_asm_error() */
};

typedef void (*gw_asm_cb)(void *ud, enum gw_asm_event ev);

/* No byte is written: a range is DONE when every segment it covers is in
 * the cache (warming). */
#define GW_ASM_SINK 1
/* The client asked for a Range: a piece far into a segment that is not
 * cached may be asked of Swift as a Range (see assemble.c).  Never for a
 * whole object, whose every byte must be verified. */
#define GW_ASM_RANGES 2

/* An assembler writing to s; it takes over the hold ref on its plan
 * (plancache.h), which it only reads.  svc->cache is set. */
struct gw_asm *gw_asm_new(struct gw_sink *s, const struct gw_services *svc,
                          struct gw_plan_ref *ref, int flags, gw_asm_cb cb, void *ud);

/* Stream bytes [first, last] of the object (inside the plan's total) next. */
void gw_asm_range(struct gw_asm *a, uint64_t first, uint64_t last, int hold);

/* Queue what is at hand; call after READY and when the connection drains. */
void gw_asm_pump(struct gw_asm *a);

/*
 * After FAILED: the status a response not yet begun should have (502, 504;
 * 503 when a segment could not go through the cache, e.g. the disk is
 * full) and a short static reason.
 */
int gw_asm_error(const struct gw_asm *a, const char **why);

/* Body bytes queued so far; segments this assembler had fetched from Swift
 * so far (fills it started: following another request's fill is a hit). */
uint64_t gw_asm_sent(const struct gw_asm *a);
uint64_t gw_asm_fetched(const struct gw_asm *a);

/* Stop, leave every fill, free.  No event follows.  Allowed from inside
 * cb: the memory then goes when the assembler's own call returns. */
void gw_asm_free(struct gw_asm *a);

#endif

/*
 * inspect.h - GET|HEAD /cache/fractal/<uuid> on the admin listener: what
 * the cache holds for one object, as JSON (inspect.c says which fields).
 */
#ifndef GW_INSPECT_H
#define GW_INSPECT_H

/* At most this many segments of a large object are listed, in order. */
#define GW_INSPECT_SEGMENTS_SHOWN 100

struct gw_services;
struct gw_sink;

/*
 * Answer the inspection of object `name` (a uuid) on the sink: 200 and the
 * entry as JSON, 404 and {"error": "not cached"} when there is none, 500
 * when the index cannot be read.  The index and the plan are read in the
 * thread pool; the handler attaches itself to the sink until then.
 */
void gw_inspect(struct gw_sink *s, const struct gw_services *svc, const char *name,
                int head_only);

#endif

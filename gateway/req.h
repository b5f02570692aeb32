/*
 * req.h - a request for an object (/fractal/<uuid>), and purge.
 *
 * Both take over the answer on the sink: the request attaches itself as
 * the sink's owner, ends the answer when it is written, and is freed by the
 * connection (through the owner's release) whenever the connection is done
 * with it, which undoes whatever still runs.
 */
#ifndef GW_REQ_H
#define GW_REQ_H

struct gw_services;
struct gw_sink;

/* GET or HEAD of object `name` (a uuid) of the configured container. */
void gw_req_fractal(struct gw_sink *s, const struct gw_services *svc, const char *name,
                    int head_only);

/*
 * Admin: remove object `name` from the cache (DELETE /cache/fractal/<uuid>,
 * PURGE), or with soft make it expire now (its blob kept), so that the next
 * request revalidates it with Swift.  Either forgets a remembered 404.
 */
void gw_req_purge(struct gw_sink *s, const struct gw_services *svc, const char *name, int soft);

#endif

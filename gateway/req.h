/*
 * req.h - routing a parsed request, and the request state machines.
 */
#ifndef GW_REQ_H
#define GW_REQ_H

struct gw_conn;
struct gw_req;

/*
 * A whole request head is in c->hreq: answer it.  Either a response is
 * queued and gw_conn_end_response() called before this returns, or a
 * struct gw_req takes over (c->req) and ends the response later.
 */
void gw_route(struct gw_conn *c);

/* GET or HEAD of object `name` of the configured container. */
void gw_req_fractal(struct gw_conn *c, const char *name, int head_only);

/* Remove object `name` from the cache (admin: DELETE /cache/fractal/<uuid>). */
void gw_req_purge(struct gw_conn *c, const char *name);

/*
 * The connection is done with r (response ended, or the connection is
 * closing): cancel whatever r still runs and free it.  No callback of r
 * runs afterwards.
 */
void gw_req_free(struct gw_req *r);

/*
 * Queue a small text response and end it: "<status> <reason>".  `extra`
 * is NULL or header lines ending in CRLF.
 */
void gw_respond_simple(struct gw_conn *c, int status, const char *reason, const char *extra);

#endif

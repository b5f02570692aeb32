/*
 * upload.h - writes through the gateway: PUT and DELETE /fractal/<uuid>
 * (route.c lets them through only with [server] write_token).
 *
 * Both take over the answer on the sink, as req.h's requests do: the
 * connection frees them through the owner's release whenever it is done
 * with them, which undoes whatever still runs (an upload that is not over
 * is cut, so Swift keeps nothing of it).
 */
#ifndef GW_UPLOAD_H
#define GW_UPLOAD_H

struct gw_services;
struct gw_sink;

/*
 * PUT of object `name` (a uuid) of the configured container: the request
 * body streams to Swift (chunked) as it arrives, MD5 computed on the way
 * and teed into a cache temp file; the last chunk goes only once the body
 * is whole and matches the client's Content-MD5 or ETag, and the cache
 * entry is committed only after Swift's 201 with the same ETag.  201 with
 * the ETag, or a 4xx/5xx with the reason.  A body whose Content-Length is
 * over [swift] segment_size is stored as an SLO instead (upload_slo.c):
 * 201 then carries the SLO ETag.
 */
void gw_upload(struct gw_sink *s, const struct gw_services *svc, const char *name);

/*
 * DELETE of object `name`: in Swift with ?multipart-manifest=delete (an
 * SLO's segments go too), then out of the cache.  204, 404 when Swift had
 * nothing, or a 5xx with the reason.
 */
void gw_delete(struct gw_sink *s, const struct gw_services *svc, const char *name);

#endif

/*
 * swift.h - what swiftgate knows of its Swift: where the account is, the
 * token that opens it, and how to get a new one.
 *
 * One struct gw_swift per process holds the current storage URL and token
 * (behind a mutex: every worker reads them).  Each worker has a
 * struct gw_swift_client that runs auth requests on its own loop and wakes
 * the requests of that worker that wait for a token.  One client, the
 * keeper, also asks for the first token at start and again while auth
 * fails, so that readiness (gw_swift_ready) never waits for a request.
 * swift_url.c builds the URLs and the fetches that carry the token;
 * swift_v3.c reads Keystone's answers.
 */
#ifndef GW_SWIFT_H
#define GW_SWIFT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct gw_conf;
struct gw_fetch;
struct gw_fetch_cbs;
struct gw_origin;
struct gw_swift;
struct gw_swift_client;

/* A request waiting for a token; embedded in the request's own struct. */
struct gw_swift_wait {
    void (*cb)(struct gw_swift_wait *w, int err);
    struct gw_swift_wait *next;
    int queued;
};

/* The credentials a fetch uses, copied out (caller frees with _creds_free). */
struct gw_swift_creds {
    char *storage_url;  /* no trailing slash */
    char *token;        /* "" in static mode without a token */
    uint64_t generation;/* pass back to gw_swift_invalidate() on a 401 */
};

struct gw_swift *gw_swift_new(const struct gw_conf *conf);
void gw_swift_free(struct gw_swift *s);
/*
 * A reload: conf replaces the configuration s reads (the old one must stay
 * valid until every worker has moved past it).  When the credentials
 * changed (auth_version, auth_url, user, key, the v3 keys, storage_url,
 * token), the token is dropped, so the next request authenticates with the
 * new ones; returns 1 then, else 0.  Any thread.
 */
int gw_swift_reconfigure(struct gw_swift *s, const struct gw_conf *conf);

struct gw_swift_client *gw_swift_client_new(struct gw_swift *s, struct gw_origin *o,
                                            uv_loop_t *loop);
/* Cancels a running auth request; waiters are not called.  The client is
 * freed from the loop (it closes its handles). */
void gw_swift_client_free(struct gw_swift_client *cl);

/*
 * Make cl the keeper: as soon as its loop runs it asks for a token (start-
 * up never waits for one), and after every failed auth request, whichever
 * worker sent it, it asks again after 1 s, then 2, 4 ... up to 30 s, until
 * one succeeds; and at once when a reload changed the credentials
 * (gw_swift_reconfigure).  Call once, before cl's loop runs or from it.
 * Static credentials need no request.
 */
void gw_swift_client_keep(struct gw_swift_client *cl);

/* The longest reason gw_swift_ready() gives, its NUL included. */
#define GW_SWIFT_REASON_MAX 240

/*
 * 1 when a miss can be answered: static auth; a token that has not
 * expired; or a token that ran out or was refused with no auth request
 * failed since.  0 before the first token and after a failed auth request
 * (until one succeeds) unless a valid token is still held; then `why`
 * gets one line: "swift auth: 401 Unauthorized from URL", "swift auth:
 * URL: <curl's error>", "swift auth: waiting for the first token from
 * URL".  *retry_after_s: the seconds until the next planned auth request
 * (at least 1).  Any thread.
 */
int gw_swift_ready(struct gw_swift *s, char *why, size_t len, unsigned *retry_after_s);

/*
 * 0 and *out filled when a token is at hand and not about to expire;
 * GW_EAUTH when one must be fetched first (then call gw_swift_wait()).
 */
int gw_swift_creds(struct gw_swift *s, struct gw_swift_creds *out);
/*
 * The same, and when the token is near its end, start a refresh on cl's
 * loop in the background (requests go on with the current token).
 */
int gw_swift_creds_refresh(struct gw_swift *s, struct gw_swift_client *cl,
                           struct gw_swift_creds *out);
void gw_swift_creds_free(struct gw_swift_creds *c);

/*
 * Queue w until this worker has a fresh token: w->cb(w, 0) then, or
 * w->cb(w, GW_EAUTH) if Swift refused.  One auth request serves every
 * waiter of the worker.  The callback runs from the loop, never from
 * inside this call.
 */
void gw_swift_wait(struct gw_swift_client *cl, struct gw_swift_wait *w);
/* Take w off the queue (its request is going away); no callback follows. */
void gw_swift_wait_cancel(struct gw_swift_client *cl, struct gw_swift_wait *w);

/*
 * Swift said 401 to a request made with the token of `generation`: forget
 * that token, unless a newer one has replaced it already.
 */
void gw_swift_invalidate(struct gw_swift *s, uint64_t generation);

/*
 * For a command that is not the gateway (`swiftgate backup -c`): log in as
 * conf says, now, running the auth request above on a libuv loop of its
 * own until it is answered (swift_login.c).  0 with *storage_url and
 * *token set (the caller frees them), or GW_EAUTH when Swift refused or
 * could not be reached (the reason is logged as for the gateway).  Needs
 * curl_global_init(); uses no other loop.
 */
int gw_swift_login(const struct gw_conf *conf, char **storage_url, char **token);
/* The same, and when it fails, why in one line ("swift auth: 401
 * Unauthorized from URL", as gw_swift_ready() says it). */
int gw_swift_login_why(const struct gw_conf *conf, char **storage_url, char **token, char *why,
                       size_t whylen);

/*
 * Keystone v3: from a token's JSON body, the object-store endpoint URL of
 * `interface` (and `region`, unless empty) and expires_at in Unix seconds.
 * 0, or GW_EAUTH with a static reason in *why.  *url_out is the caller's.
 */
int gw_swift_v3_parse(const char *body, size_t len, const char *interface, const char *region,
                      char **url_out, int64_t *expires_out, const char **why);

/* Keystone v3: the URL to POST a password auth request to, from auth_url
 * ending in /v3, /v3/auth/tokens or neither.  Caller frees. */
char *gw_swift_v3_tokens_url(const char *auth_url);

/*
 * The URL of object `name` in `container`, each percent-encoded as a path
 * segment (a '/' in the name too: Swift decodes the path before it splits
 * it).  Caller frees.
 */
char *gw_swift_object_url(const char *storage_url, const char *container, const char *name);

/* The URL of `container` (percent-encoded).  Caller frees. */
char *gw_swift_container_url(const char *storage_url, const char *container);

/*
 * The URL of one page of `container`'s JSON listing of the names starting
 * with `prefix`, after `marker` ("" for the first page).  Caller frees.
 */
char *gw_swift_listing_url(const char *storage_url, const char *container, const char *prefix,
                           const char *marker);

/* A new (not yet started) fetch of url with the credentials' token. */
struct gw_fetch *gw_swift_fetch_url(struct gw_origin *o, const struct gw_swift_creds *cr,
                                    const char *url, const char *method,
                                    const struct gw_fetch_cbs *cbs, void *ud);

/*
 * A new (not yet started) fetch of object `name` of `container`, with
 * "?query" appended unless query is NULL (it is sent as it is: encode it).
 * See gw_fetch_new() for cbs and ud.
 */
struct gw_fetch *gw_swift_object_fetch(struct gw_origin *o, const struct gw_swift_creds *cr,
                                       const char *container, const char *name,
                                       const char *query, const char *method,
                                       const struct gw_fetch_cbs *cbs, void *ud);

/* ---- one request to Swift (swift_req.c) ---- */

struct gw_services;

/*
 * What one request asks Swift for.  The strings are the caller's and must
 * live as long as the request: a retry builds the URL again from them.
 */
struct gw_swift_target {
    const char *kind;       /* origin counters: "object", "segment", "manifest", "listing" */
    const char *method;     /* "GET" or "HEAD" */
    const char *container;
    const char *object;     /* NULL: a JSON listing of container (prefix, marker) */
    const char *query;      /* object: appended after '?', sent as it is; or NULL */
    const char *prefix;     /* listing */
    const char *marker;     /* listing: "" for the first page */
    /* Called with each new fetch before it starts (the first, and the one
     * after a 401), to add request headers; or NULL. */
    void (*prepare)(void *ud, struct gw_fetch *f);
    /* The request cannot be sent twice (an upload's body is gone once
     * sent): a 401 goes to the caller, not to a retry. */
    int once;
};

/*
 * A request to Swift that gets its own credentials: it takes the current
 * token (starting a background refresh near its end), or waits for one;
 * and when Swift answers 401 to a token, it forgets that token and asks
 * once more with a new one.  The caller's callbacks (cbs, ud) never see
 * that first 401 or its body.  Embedded in the caller's struct.
 *
 * on_done may get f == NULL when no fetch ran: GW_EAUTH (no token could be
 * had; counted as an auth error) or GW_EORIGIN (a fetch could not start).
 */
struct gw_swift_req {
    uint32_t magic;
    struct gw_swift_target t;
    const struct gw_fetch_cbs *cbs;
    void *ud;
    const struct gw_services *svc;
    struct gw_swift_wait wait;
    struct gw_swift_creds creds;
    struct gw_fetch *fetch;
    int status;             /* of the fetch running now; 0 before its head */
    int retried;            /* a 401 was answered with a new token already */
    int renewing;           /* this fetch got a 401: drop its body, then retry */
};

/* Set up q; nothing runs until gw_swift_req_start(). */
void gw_swift_req_init(struct gw_swift_req *q, const struct gw_services *svc,
                       const struct gw_swift_target *t, const struct gw_fetch_cbs *cbs,
                       void *ud);
/*
 * Send it (or queue it for a token).  0, or GW_EORIGIN when the fetch
 * could not start (then no callback follows).  Callbacks come from the
 * loop, never from inside this call.
 */
int gw_swift_req_start(struct gw_swift_req *q);
/* After on_data returned GW_FETCH_PAUSE. */
void gw_swift_req_resume(struct gw_swift_req *q);
/* Stop whatever runs; no callback follows.  q may be started again. */
void gw_swift_req_cancel(struct gw_swift_req *q);
/* A fetch runs, or a token is awaited. */
int gw_swift_req_busy(const struct gw_swift_req *q);
/*
 * Hand the running fetch of `from` to `to` (already initialised with its
 * own target and callbacks): from inside from's on_headers, so the body
 * goes to `to`.  `from` is left idle.
 */
void gw_swift_req_take(struct gw_swift_req *to, struct gw_swift_req *from);

/* The client's request id to Swift as X-Trans-Id-Extra, so that Swift's own
 * logs name it (nothing when id is ""). */
void gw_swift_trans_extra(struct gw_fetch *f, const char *id);

#endif

/*
 * origin.h - HTTP requests to Swift: libcurl's multi interface driven by a
 * libuv loop.  One struct gw_origin per loop; any number of fetches on it.
 */
#ifndef GW_ORIGIN_H
#define GW_ORIGIN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct gw_conf;
struct gw_origin;
struct gw_fetch;

/* on_data may return this to stop the flow until gw_fetch_resume(). */
#define GW_FETCH_PAUSE 1
/* What on_read may return besides a byte count. */
#define GW_FETCH_READ_PAUSE ((size_t)-1) /* no bytes now: wait for gw_fetch_resume() */
#define GW_FETCH_READ_ABORT ((size_t)-2) /* stop: the body is never finished */

struct gw_fetch_cbs {
    /*
     * The final response's status line and headers have arrived.  Return 0
     * to go on with the body, or a negative code to abort the transfer (then
     * on_done follows with that code).  Runs inside a curl callback: it may
     * call gw_fetch_cancel() but must not free anything the fetch uses.
     */
    int (*on_headers)(void *ud, struct gw_fetch *f, long status);
    /*
     * Body bytes, borrowed until the callback returns.  Return 0 when all of
     * them were taken, GW_FETCH_PAUSE to take none of them now (curl hands
     * the same bytes over again after gw_fetch_resume()), or a negative
     * code to abort.
     */
    int (*on_data)(void *ud, const char *buf, size_t len);
    /*
     * The transfer is over: err is 0 when the whole body arrived as the
     * origin framed it (Content-Length not checked here), otherwise a GW_E*
     * code.  Called once, from a loop callback, never from inside curl; the
     * fetch is freed when it returns.  Not called after gw_fetch_cancel().
     */
    void (*on_done)(void *ud, struct gw_fetch *f, int err);
    /*
     * Optional: is anyone still waiting for this fetch?  Asked, on the loop,
     * of a fetch waiting for a max_fetches slot: when it is granted one
     * (0: it ends with GW_EBUSY instead of starting) and when the queue is
     * full (the first unwanted one gives its place up).
     */
    int (*wanted)(void *ud);
    /*
     * An upload's body (gw_fetch_upload): fill buf with up to len bytes and
     * return how many, 0 when the body is over (curl then sends the last
     * chunk), GW_FETCH_READ_PAUSE or GW_FETCH_READ_ABORT (the transfer
     * fails with GW_EORIGIN; Swift sees the body cut and stores nothing).
     * Runs inside a curl callback, maybe from inside gw_fetch_resume().
     */
    size_t (*on_read)(void *ud, char *buf, size_t len);
};

/*
 * The settings every swiftgate transfer shares (a CURL * passed as void *,
 * so that this header needs no curl.h): no signals, HTTP(S) only, no
 * redirects, bytes exactly as sent (no content decoding), TCP_NODELAY.
 */
void gw_origin_easy_defaults(void *easy);

/* One per loop.  Returns NULL only if curl cannot be set up. */
struct gw_origin *gw_origin_new(uv_loop_t *loop, const struct gw_conf *conf);
/*
 * A reload, on o's loop: new fetches, and the first-byte checks of those
 * running, read conf from now on (a running transfer keeps the connect
 * and stall limits it started with).  Not with a NULL conf.
 */
void gw_origin_set_conf(struct gw_origin *o, const struct gw_conf *conf);
/* Cancels every fetch (no callbacks) and closes its handles; the loop must
 * then run once more so the close callbacks free what is left. */
void gw_origin_close(struct gw_origin *o);

/*
 * A new fetch of `url` with `method` ("GET", "HEAD", "POST").  It does not
 * start until gw_fetch_start().  `ud` is passed to every callback.  Started,
 * it waits for one of the process's [swift] max_fetches slots (gate.h);
 * when the queue for them is full, or it waited fetch_queue_timeout,
 * on_done comes with GW_EBUSY.
 */
struct gw_fetch *gw_fetch_new(struct gw_origin *o, const char *method, const char *url,
                              const struct gw_fetch_cbs *cbs, void *ud);
/* f takes no [swift] max_fetches slot (authentication); before start. */
void gw_fetch_ungated(struct gw_fetch *f);
/* Add a request header line "Name: value" (copied). */
void gw_fetch_add_header(struct gw_fetch *f, const char *line);
/* A request body (copied), for POST. */
void gw_fetch_set_body(struct gw_fetch *f, const char *data, size_t len);
int gw_fetch_start(struct gw_fetch *f);
/*
 * Before start: f is a PUT whose body, of a length not known beforehand, is
 * sent chunked as on_read gives it.  first_byte_timeout counts from the
 * body's end, not from the start.
 */
void gw_fetch_upload(struct gw_fetch *f);

/*
 * After on_data returned GW_FETCH_PAUSE (the kept bytes come again) or
 * on_read GW_FETCH_READ_PAUSE (on_read is asked again), maybe before this
 * returns (either may pause again).  A no-op when the fetch
 * is not paused, is cancelled or is over.  Not from inside a callback of
 * this fetch.
 */
void gw_fetch_resume(struct gw_fetch *f);
/*
 * Hand the fetch to someone else: from now on cbs and ud get its callbacks.
 * Allowed from inside on_headers (the body has not begun).
 */
void gw_fetch_retarget(struct gw_fetch *f, const struct gw_fetch_cbs *cbs, void *ud);
/*
 * No callback will be called for f again; it is freed later, from the loop.
 * Safe from inside any callback, including the fetch's own.
 */
void gw_fetch_cancel(struct gw_fetch *f);

/* What the gateway says of a fetch that ended with err (not 0): the
 * status (503 for GW_EBUSY and for -EMFILE or -ENFILE, no socket to Swift
 * could be opened; 504 for GW_ETIMEOUT; else 502) and a reason. */
#define GW_FETCH_BUSY_REASON "too many requests to Swift waiting; try again"
int gw_fetch_err_status(int err);

/*
 * A response header of the final response (case-insensitive name), valid
 * until the fetch is freed; NULL if absent.  Its value has no leading or
 * trailing whitespace and no control byte (gw_http_field_value_ok): a
 * response with such a header, a folded line or a NUL in its head ends the
 * fetch with GW_EBADHEADER before on_headers (counted as
 * bad_origin_header), so it may be copied into a head as it is.
 */
const char *gw_fetch_header(const struct gw_fetch *f, const char *name);
/* curl's own words on what failed, for log lines; "" if nothing did. */
const char *gw_fetch_error_text(const struct gw_fetch *f);
/* Milliseconds from start to the first header byte; 0 before it came. */
uint64_t gw_fetch_ttfb_ms(const struct gw_fetch *f);

#endif

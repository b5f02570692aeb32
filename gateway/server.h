/*
 * server.h - listeners, workers and connections.
 *
 * A worker is a thread with its own libuv loop, its own SO_REUSEPORT
 * listener, its own curl multi handle and its own connections; workers
 * share only the process-wide struct gw_server (configuration, Swift token,
 * access log, draining flag).  A connection belongs to one worker for life.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http.h"
#include "stats.h"

struct gw_conf;
struct gw_swift;
struct gw_swift_client;
struct gw_origin;
struct gw_req;

struct gw_cache;
struct gw_fill;
struct gw_fill_reader;

struct gw_server {
    const struct gw_conf *conf;
    struct gw_cache *cache;     /* NULL: caching off ([cache] dir empty) */
    struct gw_swift *swift;
    int nworkers;
    struct gw_worker *workers;
    int listen_fd0;             /* first worker's socket, for the bound address */
    int admin_fd;               /* -1: no admin listener */
    int access_fd;              /* -1: no access log */
    volatile int draining;      /* set once, by the main thread: /healthz says 503 */
    volatile int closing;       /* set once, after drain_delay: listeners closed,
                                   no more keep-alive */
    uint64_t nconns;            /* public connections open, all workers (atomic) */
    uv_loop_t *main_loop;
    uv_async_t worker_exit;     /* a worker's loop has ended */
    int workers_running;        /* threads started; main thread only */
    int workers_done;           /* loops ended (atomic) */
    void (*on_stopped)(struct gw_server *srv); /* main loop: every worker ended */
};

struct gw_worker {
    uint32_t magic;
    int id;
    struct gw_server *srv;
    uv_loop_t loop;
    uv_tcp_t listener;
    int listen_fd;
    uv_tcp_t admin_listener;    /* worker 0 only, when admin_listen is set */
    int admin_fd;
    uv_async_t wakeup;          /* drain / force-close requests from main */
    volatile int force_close;
    int stopping;
    uv_timer_t stop_check;      /* finishes a drain outside any callback chain */
    struct gw_origin *origin;
    struct gw_swift_client *swift;
    uv_async_t fill_async;      /* fills wake this worker's readers */
    struct gw_fill_reader *fill_pending; /* guarded by fill.c's lock */
    struct gw_fill *fills_owned;
    uv_timer_t maint;           /* worker 0: cache upkeep every second */
    uv_work_t maint_work;
    int maint_busy;
    uv_thread_t thread;
    struct gw_conn *conns;
    uint64_t nconns;
    char rbuf[65536];           /* every read lands here; leftovers are copied */
};

enum gw_conn_state {
    GW_CONN_IDLE,       /* between requests, reading */
    GW_CONN_HEAD,       /* part of a request head has arrived */
    GW_CONN_BUSY,       /* a request is being answered; reading paused */
    GW_CONN_FLUSHING,   /* the answer is queued; waiting for the queue to drain */
    GW_CONN_LINGER,     /* answered, write side shut: reading and dropping until EOF */
    GW_CONN_CLOSING,
};

struct gw_conn {
    uint32_t magic;
    struct gw_worker *w;
    struct gw_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int closes_pending;
    enum gw_conn_state state;
    llhttp_t parser;
    struct gw_http_req hreq;
    char *stash;                /* bytes read but not parsed yet */
    size_t stash_len, stash_off;
    int reading, eof, keepalive, aborting;
    size_t queued;              /* bytes handed to uv_write, not yet written */
    int want_drain;             /* the request waits for the queue to drain */
    struct gw_req *req;         /* the request being answered, if any */
    void (*on_drain)(struct gw_req *req);
    char peer[64];
    uv_shutdown_t shutdown;     /* GW_CONN_LINGER */
    uint64_t lingered;          /* bytes dropped while lingering */

    /* For the access log, reset per request. */
    uint64_t req_start_ms;
    int resp_status;
    uint64_t resp_bytes;        /* body bytes queued */
    uint64_t origin_ms;
    enum gw_cache_result cache;
    int admin;                  /* accepted on the admin listener */
    int logged;                 /* this request's access log line is written */
};

/*
 * Bind every listener of the configuration (before any thread starts, so
 * a bad address fails the start).  Returns 0 or a -errno; on error the
 * message is in err.
 */
int gw_server_init(struct gw_server *srv, const struct gw_conf *conf, uv_loop_t *main_loop,
                   char *err, size_t errlen);
/* Start the worker threads. */
int gw_server_start(struct gw_server *srv);
/* "127.0.0.1:8080" of the public listener (admin = 0) or the admin one. */
void gw_server_address(const struct gw_server *srv, int admin, char *out, size_t len);
/*
 * Start draining: /healthz answers 503 from now on; everything else is
 * served as before, keep-alive included, so a balancer sees the 503 on the
 * connections it already has.  Main thread.
 */
void gw_server_drain(struct gw_server *srv);
/*
 * After drain_delay: close the listeners, close idle connections, and let
 * what is in flight finish without keep-alive.  Implies gw_server_drain().
 */
void gw_server_stop_accepting(struct gw_server *srv);
/* Close every connection now. */
void gw_server_force_close(struct gw_server *srv);
/* Join the threads and free everything; every worker loop must have ended. */
void gw_server_destroy(struct gw_server *srv);
/* SIGHUP: reopen the access log file. */
void gw_server_reopen_logs(struct gw_server *srv);

/* ---- what a request may do with its connection ---- */

/* Queue bytes (copied).  Never closes the connection on the spot. */
void gw_conn_write(struct gw_conn *c, const void *data, size_t len);
/*
 * Queue len bytes that stay owned by the caller (an mmap'd blob): they are
 * not copied, and release(arg) is called once the write is over, written
 * or cancelled.  Called even if len is 0 or the connection is closing.
 */
void gw_conn_write_ref(struct gw_conn *c, const void *data, size_t len, void (*release)(void *),
                       void *arg);
/* Queue a buffer, taking ownership of b->data. */
void gw_conn_write_buf(struct gw_conn *c, struct gw_buf *b);
/* More queued than the high watermark: stop producing until on_drain. */
int gw_conn_congested(const struct gw_conn *c);
/*
 * The response is complete.  The request is freed later, from the loop;
 * the caller must not touch the connection again.
 */
void gw_conn_end_response(struct gw_conn *c);
/*
 * Cut the connection: a response already begun stays short of its length,
 * so the client knows it is incomplete.  The close happens from the loop.
 */
void gw_conn_abort(struct gw_conn *c);

#endif

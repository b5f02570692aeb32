/*
 * server.h - the gateway's serving side as main.c sees it: listeners,
 * worker threads, draining and shutdown.
 *
 * A worker is a thread with its own libuv loop, its own SO_REUSEPORT
 * listener, its own curl multi handle and its own connections; workers
 * share only the process-wide struct gw_server (configuration, cache,
 * Swift token, access log, draining flags).  A connection belongs to one
 * worker for life.  Workers and connections are private to workers.c and
 * server.c; handlers see a connection only as a sink (sink.h).
 *
 * Reload (reload.c): the main thread reads the file again into a new
 * configuration and publishes it; each worker moves to it in a callback
 * of its own (its wakeup), between two callbacks of any request, and says
 * so.  Invariant: no code keeps a pointer into a configuration past the
 * callback it runs in (it reads svc->conf anew, and copies what must live
 * longer), so a configuration is freed, by the main thread, once every
 * worker has moved past it.  Requests in flight see the new values from
 * the next step they take; new requests see only the new ones.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct gw_cache;
struct gw_conf;
struct gw_neg;
struct gw_privs;
struct gw_swift;
struct gw_worker;

/* A configuration as published to the workers. */
struct gw_conf_slot {
    const struct gw_conf *conf;
    uint64_t generation;        /* 0: the one the gateway started with */
    struct gw_conf *owned;      /* a reload's, freed with its slot; NULL: the caller's */
    struct gw_conf_slot *next;  /* on the retired list */
};

struct gw_server {
    const struct gw_conf *conf; /* the newest; only the main thread reads it once the
                                   workers run (they have their own, services.h) */
    struct gw_cache *cache;     /* NULL: caching off ([cache] dir empty) */
    struct gw_neg *neg;         /* remembered 404s, with the cache; NULL: none */
    struct gw_swift *swift;
    int nworkers;
    struct gw_worker *workers;
    int listen_fd0;             /* first worker's socket, for the bound address */
    int admin_fd;               /* -1: no admin listener */
    int access_fd;              /* -1: no access log */
    atomic_int draining;        /* set once, by the main thread: /healthz says 503 */
    atomic_int closing;         /* set once, after drain_delay: listeners closed,
                                   no more keep-alive */
    atomic_uint_least64_t nconns; /* public connections open, all workers */
    uv_loop_t *main_loop;
    uv_async_t worker_exit;     /* a worker's loop has ended */
    int workers_running;        /* threads started; main thread only */
    atomic_int workers_done;    /* loops ended */
    int stats_ready;            /* gw_stats_init() ran */
    void (*on_stopped)(struct gw_server *srv); /* main loop: every worker ended */
    struct gw_conf_slot first;  /* the configuration gw_server_init() was given */
    _Atomic(struct gw_conf_slot *) published; /* the newest: workers move to it */
    struct gw_conf_slot *retired; /* older ones, freed once no worker uses them */
    uv_async_t conf_moved;      /* main loop: a worker moved to a newer configuration */
    char *reload_summary;       /* logged once every worker runs on the newest */
};

/*
 * Bind every listener of the configuration (before any thread starts, so
 * a bad address fails the start), open the access log and the cache (the
 * cache owned by privs' user, see privs.h; NULL: by the process's own).
 * Returns 0 or a -errno (GW_EUNSAFE: the cache directory holds a link or
 * another user's file); on error the message is in err and nothing is
 * left open.
 */
int gw_server_init(struct gw_server *srv, const struct gw_conf *conf,
                   const struct gw_privs *privs, uv_loop_t *main_loop, char *err,
                   size_t errlen);
/* Start the worker threads.  On error, gw_server_force_close() and
 * gw_server_destroy() still clean up what did start. */
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
/*
 * SIGHUP (reload.c): read srv->conf's file again, as check-config does;
 * if it is good, the keys that can change take effect for new requests
 * (those that need a restart are logged and kept), else the error is
 * logged with its file:line and nothing changes.  No connection is
 * closed.  Returns 0, or -1 when the file was refused.  Main thread.
 */
int gw_server_reload(struct gw_server *srv);

#endif

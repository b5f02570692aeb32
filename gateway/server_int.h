/*
 * server_int.h - what workers.c (listeners, worker threads, upkeep),
 * server.c (connections) and proxyaccept.c (a connection's PROXY header,
 * before server.c takes it) share.  Nobody else includes it.
 *
 * A worker owns its loop and every handle on it; its connections are on
 * its `conns` list.  `svc` is what the worker hands its handlers: built
 * once the loop's services exist, constant afterwards but for svc.conf,
 * which a reload replaces on the worker's own loop (server.h).
 */
#ifndef GW_SERVER_INT_H
#define GW_SERVER_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include <uv.h>

#include "server.h"
#include "services.h"

struct gw_conn;
struct gw_proxy_wait;

/* A connection's place on its worker's run list. */
struct gw_run_node {
    struct gw_run_node *prev, *next;
    int queued;
};

struct gw_worker {
    uint32_t magic;
    int id;
    struct gw_server *srv;
    uv_loop_t loop;
    int loop_ready;             /* uv_loop_init() succeeded */
    uv_poll_t listener;         /* on listen_fd: accept4() when readable */
    int listen_fd;
    uv_poll_t admin_listener;   /* worker 0 only, when admin_listen is set */
    int admin_fd;
    uv_timer_t accept_pause;    /* out of descriptors: accepting waits a moment */
    uv_async_t wakeup;          /* drain / force-close / reload requests from main */
    atomic_uint_least64_t conf_generation; /* of svc.conf; UINT64_MAX once the loop ended */
    int access_format;          /* enum gw_access_format, of svc.conf */
    atomic_int force_close;
    int stopping;
    uv_timer_t stop_check;      /* finishes a drain outside any callback chain */
    struct gw_services svc;
    uv_timer_t maint;           /* worker 0: cache upkeep every second */
    uv_work_t maint_work;
    int maint_busy;
    uv_thread_t thread;
    struct gw_conn *conns;
    uint64_t nconns;
    uint64_t nadmin;            /* of them, on the admin listener */
    struct gw_proxy_wait *proxy_waits;  /* waiting for their PROXY header */
    uint64_t nproxy_waits;
    /* Connections with something to do that came from outside their own
     * poll callback: run after this turn's poll (check), or before the next
     * one without blocking in it (idle). */
    struct gw_run_node *run_head, *run_tail;
    uv_check_t run_check;
    uv_idle_t run_idle;
    char rbuf[65536];           /* every read lands here; leftovers are copied */
};

#define WORKER_MAGIC 0x574f524bu

/* server.c: a new connection fd (accepted, non-blocking) on w's admin or public
 * listener, from peer (its address as log lines print it: the socket's, or
 * the client a PROXY header named).  0: the connection owns fd; -ENOMEM: its
 * memory could not be had, and fd is still the caller's. */
int gw_conn_accept(struct gw_worker *w, int fd, int admin, const char *peer);
/* workers.c: near a memory limit, or when gw_conn_accept() says -ENOMEM: a
 * fixed 503 "out of memory; try again" on fd, which is then closed. */
void gw_refuse_for_memory(int fd);
/* proxyaccept.c: a new public connection fd that opens with a PROXY header:
 * read it, then gw_conn_accept(); a bad one, or none in time, closes fd. */
void gw_proxy_accept(struct gw_worker *w, int fd);
/* proxyaccept.c: the drain moved on: close w's connections still waiting for a header. */
void gw_proxy_waits_close(struct gw_worker *w);
/* server.c: run the connection the node is in (taken off the run list). */
void gw_conn_run(struct gw_run_node *n);
/* workers.c: have n's connection run from the loop soon; idempotent. */
void gw_run_schedule(struct gw_worker *w, struct gw_run_node *n);
/* workers.c: take n off the run list (its connection closes). */
void gw_run_cancel(struct gw_worker *w, struct gw_run_node *n);
/* server.c: the drain moved on: close w's idle connections (all, when forcing). */
void gw_conns_wakeup(struct gw_worker *w);
/*
 * workers.c: count a new connection of w (from peer) on its listener's
 * max_connections; GW_ELIMIT (warned about once a second at most, and
 * counted) when it is one too many and must be refused.
 */
int gw_worker_conn_opened(struct gw_worker *w, int admin, const char *peer);
/* workers.c: a connection counted by gw_worker_conn_opened() closed. */
void gw_worker_conn_closed(struct gw_worker *w, int admin);
/* workers.c: a connection of w closed (or a wait for a PROXY header): if w is
 * stopping and it was the last, stop. */
void gw_worker_maybe_stop(struct gw_worker *w);
/* reload.c, on w's loop: move w to the newest published configuration. */
void gw_worker_take_conf(struct gw_worker *w);
/* reload.c, main thread: the configurations of srv set up, and torn down. */
void gw_server_conf_init(struct gw_server *srv, const struct gw_conf *conf);
void gw_server_conf_free(struct gw_server *srv);

#endif

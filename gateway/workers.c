/*
 * workers.c - listeners, worker threads, cache upkeep, draining and
 * shutdown (server.h).
 *
 * Every listener is bound before any thread starts, so a bad address
 * fails the start; each worker then gets its own loop, its own
 * SO_REUSEPORT socket, its own curl multi handle and its side of the fill
 * table, gathered in the struct gw_services its handlers see.  The admin
 * listener is small traffic: worker 0 serves it, and runs the cache's
 * upkeep (touches, eviction, idle mappings) in the thread pool once a
 * second.  Worker 0 is also Swift's auth keeper: it asks for the first
 * token when it starts and again while auth fails (swift.h).
 *
 * Draining has two phases, both flags of struct gw_server set once by the
 * main thread: `draining` (/healthz says 503, all else as usual) and, after
 * drain_delay, `closing` (listeners and idle connections close, no more
 * keep-alive).  A worker's loop ends once its last connection is closed and
 * it has closed its own handles.  The same wakeup carries reloads: on it a
 * worker first moves to the newest published configuration (reload.c).
 */
#include "server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "blobfd.h"
#include "accesslog.h"
#include "cache.h"
#include "conf.h"
#include "fill.h"
#include "memguard.h"
#include "neg.h"
#include "origin.h"
#include "privs.h"
#include "proxyproto.h"
#include "plancache.h"
#include "stats.h"
#include "swift.h"
#include "util.h"

/* Connections taken from a listener's backlog per readable event. */
#define ACCEPT_BATCH 64
/* How long accepting waits when the process is out of descriptors. */
#define ACCEPT_PAUSE_MS 100

/* ---- upkeep ---- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/*
 * Cache upkeep, off the loop: accesses noted by hits are written to the
 * index in one transaction, and the cache is brought under its caps.  Near
 * a memory limit, free heap pages go back to the kernel (memguard.h).
 */
static void maint_work(uv_work_t *req)
{
    struct gw_worker *w = req->data;
    gw_memguard_trim();
    gw_cache_flush_touches(w->srv->cache);
    gw_cache_evict(w->srv->cache);
    gw_blobfd_sweep(w->srv->cache);
    uint64_t entries, bytes;
    gw_cache_usage(w->srv->cache, &entries, &bytes);
    gw_stats_set_cache(entries, bytes);
    gw_stats_set_cache_writes(gw_cache_index_writes(w->srv->cache));
}

static void maint_done(uv_work_t *req, int status)
{
    (void)status;
    struct gw_worker *w = req->data;
    w->maint_busy = 0;
}

static void on_maint(uv_timer_t *t)
{
    struct gw_worker *w = t->data;
    GW_CHECK_MAGIC(w, WORKER_MAGIC);
    if (w->maint_busy || w->srv->cache == NULL) return;
    w->maint_busy = 1;
    w->maint_work.data = w;
    if (uv_queue_work(&w->loop, &w->maint_work, maint_work, maint_done) != 0) w->maint_busy = 0;
}

/* ---- the run list ---- */

/*
 * Connections to run soon, in the order they asked.  A pass runs only the
 * ones queued when it began: one scheduled meanwhile waits for the next
 * pass, so two connections that wake each other cannot hold the loop.
 */
static void run_pass(struct gw_worker *w)
{
    int n = 0;
    for (struct gw_run_node *p = w->run_head; p; p = p->next) n++;
    while (n-- > 0 && w->run_head) {
        struct gw_run_node *node = w->run_head;
        gw_run_cancel(w, node);
        gw_conn_run(node);
    }
    if (w->run_head == NULL) {
        uv_idle_stop(&w->run_idle);
        uv_check_stop(&w->run_check);
    }
}

static void on_run_check(uv_check_t *h)
{
    run_pass(h->data);
}

static void on_run_idle(uv_idle_t *h)
{
    run_pass(h->data);
}

void gw_run_schedule(struct gw_worker *w, struct gw_run_node *n)
{
    if (n->queued) return;
    n->queued = 1;
    n->next = NULL;
    n->prev = w->run_tail;
    if (w->run_tail)
        w->run_tail->next = n;
    else
        w->run_head = n;
    w->run_tail = n;
    uv_idle_start(&w->run_idle, on_run_idle);
    uv_check_start(&w->run_check, on_run_check);
}

void gw_run_cancel(struct gw_worker *w, struct gw_run_node *n)
{
    if (!n->queued) return;
    n->queued = 0;
    if (n->prev)
        n->prev->next = n->next;
    else
        w->run_head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        w->run_tail = n->prev;
    n->prev = n->next = NULL;
}

/* ---- accepting ---- */

static void on_listener(uv_poll_t *h, int status, int events);

static void accept_resume(uv_timer_t *t)
{
    struct gw_worker *w = t->data;
    if (w->stopping) return;
    uv_poll_start(&w->listener, UV_READABLE, on_listener);
    if (w->admin_fd >= 0) uv_poll_start(&w->admin_listener, UV_READABLE, on_listener);
}

/*
 * Out of descriptors: the pending connection stays in the backlog, and
 * accepting pauses for ACCEPT_PAUSE_MS rather than spin on a listener that
 * stays readable.  Warned about once a second at most.
 */
static void accept_pause(struct gw_worker *w, int err)
{
    static __thread uint64_t last_warn_ms;
    uint64_t now = gw_now_ms();
    if (now - last_warn_ms >= 1000) {
        last_warn_ms = now;
        gw_warn("server", "accept: %s; accepting again in %d ms", strerror(err),
                ACCEPT_PAUSE_MS);
    }
    uv_poll_stop(&w->listener);
    if (w->admin_fd >= 0) uv_poll_stop(&w->admin_listener);
    uv_timer_start(&w->accept_pause, accept_resume, ACCEPT_PAUSE_MS, 0);
}

/*
 * Near a memory limit (memguard.h), or when a connection's own memory
 * cannot be had: the client gets a fixed 503 and a close, with nothing
 * allocated for it.  What it sent already is read and dropped first
 * (bounded), so that the close does not reset the answer away; a request
 * that arrives after that still can, and the client sees a reset.  The
 * answer is small enough for an empty socket buffer to take whole.
 */
void gw_refuse_for_memory(int fd)
{
    static const char body[] = "503 " GW_OUT_OF_MEMORY_REASON "\n";
    static const char head[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                               "Retry-After: 1\r\nConnection: close\r\nContent-Length: ";
    char answer[256], drop[4096];
    int n = snprintf(answer, sizeof(answer), "%s%zu\r\n\r\n%s", head, sizeof(body) - 1, body);
    for (int i = 0; i < 4 && recv(fd, drop, sizeof(drop), MSG_DONTWAIT) > 0; i++) continue;
    if (send(fd, answer, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* The client is gone already: nothing to tell it. */
    }
    shutdown(fd, SHUT_WR);
    close(fd);
    gw_stats_error(GW_ERR_OUT_OF_MEMORY);
}

/* A new connection: to server.c, after its PROXY header if the public listener expects one. */
static void listener_take(struct gw_worker *w, int fd, int admin)
{
    /* The admin listener is spared: /metrics must tell why. */
    if (!admin && gw_memguard_level() == GW_MEM_NO_CONNS) {
        gw_refuse_for_memory(fd);
        return;
    }
    if (!admin && w->svc.conf->proxy_protocol != GW_PROXY_OFF) {
        gw_proxy_accept(w, fd);
        return;
    }
    char peer[64];
    gw_access_peer(fd, peer, sizeof(peer));
    if (gw_conn_accept(w, fd, admin, peer) == -ENOMEM) gw_refuse_for_memory(fd);
}

/* The listener is readable: take up to ACCEPT_BATCH connections from its backlog. */
static void on_listener(uv_poll_t *h, int status, int events)
{
    struct gw_worker *w = h->data;
    GW_CHECK_MAGIC(w, WORKER_MAGIC);
    (void)events;
    int admin = h == &w->admin_listener;
    if (status < 0) {
        gw_warn("server", "listener: %s", uv_strerror(status));
        return;
    }
    int lfd = admin ? w->admin_fd : w->listen_fd;
    for (int i = 0; i < ACCEPT_BATCH && !w->stopping; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            listener_take(w, fd, admin);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            accept_pause(w, errno);
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            gw_warn("server", "accept failed: %s", strerror(errno));
        return;
    }
}

/* Stop accepting: the listeners' handles close, and their sockets with them. */
static void listeners_close(struct gw_worker *w)
{
    uv_close((uv_handle_t *)&w->listener, on_handle_closed);
    close(w->listen_fd);
    if (w->admin_fd >= 0) {
        uv_close((uv_handle_t *)&w->admin_listener, on_handle_closed);
        close(w->admin_fd);
    }
    uv_timer_stop(&w->accept_pause);
}

/* ---- a worker's life ---- */

static void worker_stop_check(uv_timer_t *t)
{
    struct gw_worker *w = t->data;
    GW_CHECK_MAGIC(w, WORKER_MAGIC);
    if (!w->stopping || w->nconns > 0 || w->nproxy_waits > 0) return;
    /* Last connection gone: close what the loop still holds, then it ends. */
    gw_fill_worker_close(w->svc.fills);
    w->svc.fills = NULL;
    uv_close((uv_handle_t *)&w->maint, on_handle_closed);
    gw_swift_client_free(w->svc.swift_client);
    w->svc.swift_client = NULL;
    gw_origin_close(w->svc.origin);
    w->svc.origin = NULL;
    uv_close((uv_handle_t *)&w->wakeup, on_handle_closed);
    uv_close((uv_handle_t *)&w->stop_check, on_handle_closed);
    uv_close((uv_handle_t *)&w->accept_pause, on_handle_closed);
    uv_close((uv_handle_t *)&w->run_check, on_handle_closed);
    uv_close((uv_handle_t *)&w->run_idle, on_handle_closed);
}

int gw_worker_conn_opened(struct gw_worker *w, int admin, const char *peer)
{
    const struct gw_conf *conf = w->svc.conf;
    uint64_t open, cap = admin ? conf->admin_max_connections : conf->max_connections;
    w->nconns++;
    if (!admin) {
        gw_stats_conn_open(w->id);
        open = atomic_fetch_add_explicit(&w->srv->nconns, 1, memory_order_relaxed) + 1;
    } else {
        open = ++w->nadmin;
    }
    if (open <= cap) return 0;
    static __thread uint64_t last_warn_ms;
    uint64_t now = gw_now_ms();
    if (now - last_warn_ms >= 1000) {
        last_warn_ms = now;
        gw_warn("server", "%s: connection refused: %smax_connections (%llu) reached", peer,
                admin ? "admin_" : "", (unsigned long long)cap);
    }
    gw_stats_error(GW_ERR_CONN_LIMIT);
    return GW_ELIMIT;
}

void gw_worker_conn_closed(struct gw_worker *w, int admin)
{
    w->nconns--;
    if (admin) {
        w->nadmin--;
        return;
    }
    gw_stats_conn_close(w->id);
    atomic_fetch_sub_explicit(&w->srv->nconns, 1, memory_order_relaxed);
}

void gw_worker_maybe_stop(struct gw_worker *w)
{
    if (w->stopping && w->nconns == 0 && w->nproxy_waits == 0 &&
        !uv_is_closing((uv_handle_t *)&w->stop_check))
        uv_timer_start(&w->stop_check, worker_stop_check, 0, 0);
}

static void on_wakeup(uv_async_t *a)
{
    struct gw_worker *w = a->data;
    GW_CHECK_MAGIC(w, WORKER_MAGIC);
    gw_worker_take_conf(w); /* a reload's, if one was published */
    /* While only `draining`, /healthz reads the flag and nothing else changes. */
    if (!atomic_load(&w->srv->closing) && !atomic_load(&w->force_close)) return;
    if (!w->stopping) {
        w->stopping = 1;
        listeners_close(w);
    }
    gw_conns_wakeup(w);
    gw_proxy_waits_close(w);
    gw_worker_maybe_stop(w);
}

static void worker_main(void *arg)
{
    struct gw_worker *w = arg;
    GW_CHECK_MAGIC(w, WORKER_MAGIC);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&w->loop);
    if (rc != 0) gw_error("server", "worker %d: loop did not close: %s", w->id, uv_strerror(rc));
    gw_assert(rc == 0);
    /* No configuration is in use here any more. */
    atomic_store_explicit(&w->conf_generation, UINT64_MAX, memory_order_release);
    atomic_fetch_add_explicit(&w->srv->workers_done, 1, memory_order_release);
    uv_async_send(&w->srv->worker_exit);
}

/* ---- sockets ---- */

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *sl)
{
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) {
        *sl = sizeof(struct sockaddr_in);
    } else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0) {
        *sl = sizeof(struct sockaddr_in6);
    } else if (strcmp(host, "localhost") == 0) {
        uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)ss);
        *sl = sizeof(struct sockaddr_in);
    } else {
        return -EINVAL;
    }
    return 0;
}

static int bind_socket(const char *hostport, int *fd_out, int port_override, char *err,
                       size_t errlen)
{
    char host[256];
    int port;
    if (gw_parse_hostport(hostport, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "listen: bad address %s", hostport);
        return -EINVAL;
    }
    if (port_override >= 0) port = port_override;
    struct sockaddr_storage ss;
    socklen_t sl;
    if (resolve(host, port, &ss, &sl) != 0) {
        snprintf(err, errlen, "listen: %s is not an IP address", host);
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 511) != 0) {
        int e = errno;
        snprintf(err, errlen, "listen %s: %s", hostport, strerror(e));
        close(fd);
        return -e;
    }
    *fd_out = fd;
    return 0;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int open_access_log(const char *path)
{
    if (path[0] == '\0' || strcmp(path, "off") == 0) return -1;
    if (strcmp(path, "-") == 0) return dup(1);
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void on_worker_exit(uv_async_t *a)
{
    struct gw_server *srv = a->data;
    if (atomic_load_explicit(&srv->workers_done, memory_order_acquire) == srv->nworkers &&
        srv->on_stopped) {
        void (*cb)(struct gw_server *) = srv->on_stopped;
        srv->on_stopped = NULL;
        cb(srv);
    }
}

/* ---- init ---- */

/* One socket per worker on the public address, and the admin one. */
static int bind_listeners(struct gw_server *srv, char *err, size_t errlen)
{
    const struct gw_conf *conf = srv->conf;
    int port = -1;
    for (int i = 0; i < srv->nworkers; i++) {
        int rc = bind_socket(conf->listen, &srv->workers[i].listen_fd, port, err, errlen);
        if (rc != 0) return rc;
        /* Port 0: the first socket picks a port, the others share it. */
        if (port < 0) port = bound_port(srv->workers[i].listen_fd);
    }
    srv->listen_fd0 = srv->workers[0].listen_fd;
    if (conf->admin_listen[0]) {
        int rc = bind_socket(conf->admin_listen, &srv->admin_fd, -1, err, errlen);
        if (rc != 0) return rc;
        srv->workers[0].admin_fd = srv->admin_fd;
    }
    return 0;
}

static int open_cache(struct gw_server *srv, const struct gw_privs *privs, char *err,
                      size_t errlen)
{
    const struct gw_conf *conf = srv->conf;
    struct gw_cache_options co = {
        .dir = conf->dir,
        .max_size = conf->max_size,
        .max_entries = conf->max_entries,
        .index_size = conf->index_size,
    };
    if (privs != NULL) gw_privs_cache_owner(privs, &co);
    char cerr[256];
    int rc = gw_cache_open(&srv->cache, &co, cerr, sizeof(cerr));
    if (rc != 0) {
        snprintf(err, errlen, "cache %s: %s", conf->dir, cerr);
        srv->cache = NULL;
        return rc;
    }
    uint64_t tmp, orphans, dropped, negative = 0, entries, bytes;
    gw_cache_last_sweep(srv->cache, &tmp, &orphans, &dropped);
    /* 404s an earlier version wrote to the index: they would count against
     * max_entries, and 404s are remembered in memory now (neg.h). */
    rc = gw_cache_drop_negative(srv->cache, &negative);
    if (rc != 0)
        gw_warn("cache", "%s: removing remembered 404s: %s (they are ignored)", conf->dir,
                gw_strerror(rc));
    gw_cache_usage(srv->cache, &entries, &bytes);
    gw_stats_set_cache(entries, bytes);
    gw_stats_set_cache_writes(gw_cache_index_writes(srv->cache));
    /* 404s are remembered in memory, beside the cache (neg.h). */
    srv->neg = gw_neg_new(conf->negative_max_entries, conf->negative_ttl_ms);
    gw_info("cache", "%s: %llu entries, %llu bytes; swept %llu temp files, %llu orphans, "
                     "%llu broken entries, %llu remembered 404s", conf->dir,
            (unsigned long long)entries, (unsigned long long)bytes, (unsigned long long)tmp,
            (unsigned long long)orphans, (unsigned long long)dropped,
            (unsigned long long)negative);
    return 0;
}

/* What gw_server_init() acquired, released (a failed start). */
static void init_undo(struct gw_server *srv)
{
    for (int i = 0; srv->workers && i < srv->nworkers; i++)
        if (srv->workers[i].listen_fd >= 0) close(srv->workers[i].listen_fd);
    if (srv->admin_fd >= 0) close(srv->admin_fd);
    if (srv->access_fd >= 0) close(srv->access_fd);
    if (srv->cache) gw_cache_close(srv->cache);
    gw_neg_free(srv->neg);
    if (srv->stats_ready) {
        gw_plancache_free();
        gw_stats_free();
    }
    free(srv->workers);
    memset(srv, 0, sizeof(*srv));
    srv->access_fd = srv->admin_fd = srv->listen_fd0 = -1;
}

int gw_server_init(struct gw_server *srv, const struct gw_conf *conf,
                   const struct gw_privs *privs, uv_loop_t *main_loop, char *err,
                   size_t errlen)
{
    memset(srv, 0, sizeof(*srv));
    srv->conf = conf;
    srv->main_loop = main_loop;
    srv->access_fd = srv->admin_fd = srv->listen_fd0 = -1;
    int n = conf->workers > 0 ? conf->workers : (int)uv_available_parallelism();
    if (n > 64) n = 64;
    srv->nworkers = n;
    srv->workers = gw_calloc((size_t)n, sizeof(*srv->workers));
    for (int i = 0; i < n; i++) {
        struct gw_worker *w = &srv->workers[i];
        w->magic = WORKER_MAGIC;
        w->id = i;
        w->srv = srv;
        w->listen_fd = w->admin_fd = -1;
    }
    int rc = bind_listeners(srv, err, errlen);
    if (rc != 0) goto leave;
    gw_stats_init(n);
    srv->stats_ready = 1;
    gw_plancache_init(conf->plan_cache_size);
    gw_memguard_init(conf->max_memory);
    srv->access_fd = open_access_log(conf->access_log);
    if (srv->access_fd < 0 && strcmp(conf->access_log, "-") != 0 && conf->access_log[0] &&
        strcmp(conf->access_log, "off") != 0) {
        rc = -errno;
        snprintf(err, errlen, "access_log %s: %s", conf->access_log, strerror(errno));
        goto leave;
    }
    if (conf->dir[0] && (rc = open_cache(srv, privs, err, errlen)) != 0) goto leave;
    srv->swift = gw_swift_new(conf);
    rc = uv_async_init(main_loop, &srv->worker_exit, on_worker_exit);
    if (rc != 0) {
        snprintf(err, errlen, "uv_async_init: %s", uv_strerror(rc));
        gw_swift_free(srv->swift);
        goto leave;
    }
    srv->worker_exit.data = srv;
    gw_server_conf_init(srv, conf);
    return 0;
leave:
    init_undo(srv);
    return rc;
}

/* ---- start ---- */

/* Watch the listening sockets (bound and listening since gw_server_init). */
static int worker_listen(struct gw_worker *w)
{
    uv_timer_init(&w->loop, &w->accept_pause);
    w->accept_pause.data = w;
    int rc = uv_poll_init_socket(&w->loop, &w->listener, w->listen_fd);
    if (rc != 0) return rc;
    w->listener.data = w;
    uv_poll_start(&w->listener, UV_READABLE, on_listener);
    if (w->admin_fd < 0) return 0;
    rc = uv_poll_init_socket(&w->loop, &w->admin_listener, w->admin_fd);
    if (rc != 0) return rc;
    w->admin_listener.data = w;
    uv_poll_start(&w->admin_listener, UV_READABLE, on_listener);
    return 0;
}

/* The worker's loop and everything on it, its services included. */
static int worker_init(struct gw_server *srv, struct gw_worker *w)
{
    int rc = uv_loop_init(&w->loop);
    if (rc != 0) return rc;
    w->loop_ready = 1;
    rc = worker_listen(w);
    if (rc != 0) return rc;
    uv_check_init(&w->loop, &w->run_check);
    w->run_check.data = w;
    uv_idle_init(&w->loop, &w->run_idle);
    w->run_idle.data = w;
    uv_async_init(&w->loop, &w->wakeup, on_wakeup);
    w->wakeup.data = w;
    uv_timer_init(&w->loop, &w->stop_check);
    w->stop_check.data = w;
    w->svc.conf = srv->conf;
    w->access_format = gw_access_format_named(srv->conf->access_log_format);
    w->svc.cache = srv->cache;
    w->svc.neg = srv->neg;
    w->svc.swift = srv->swift;
    w->svc.loop = &w->loop;
    w->svc.worker = w->id;
    w->svc.origin = gw_origin_new(&w->loop, srv->conf);
    gw_assert(w->svc.origin != NULL);
    w->svc.swift_client = gw_swift_client_new(srv->swift, w->svc.origin, &w->loop);
    /* Worker 0 asks for the first token as soon as it runs (readiness). */
    if (w->id == 0) gw_swift_client_keep(w->svc.swift_client);
    w->svc.fills = gw_fill_worker_new(&w->svc);
    uv_timer_init(&w->loop, &w->maint);
    w->maint.data = w;
    if (w->id == 0) uv_timer_start(&w->maint, on_maint, 1000, 1000);
    return 0;
}

int gw_server_start(struct gw_server *srv)
{
    for (int i = 0; i < srv->nworkers; i++) {
        int rc = worker_init(srv, &srv->workers[i]);
        if (rc != 0) {
            gw_error("server", "worker %d: %s", i, uv_strerror(rc));
            return rc;
        }
    }
    for (int i = 0; i < srv->nworkers; i++) {
        int rc = uv_thread_create(&srv->workers[i].thread, worker_main, &srv->workers[i]);
        if (rc != 0) return rc;
        srv->workers_running++;
    }
    return 0;
}

void gw_server_address(const struct gw_server *srv, int admin, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[64] = "?";
    int fd = admin ? srv->admin_fd : srv->listen_fd0;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(out, len, "?");
        return;
    }
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
        snprintf(out, len, "%s:%d", host, ntohs(((struct sockaddr_in *)&ss)->sin_port));
        return;
    }
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
    snprintf(out, len, "[%s]:%d", host, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
}

/* ---- draining and shutdown ---- */

void gw_server_drain(struct gw_server *srv)
{
    atomic_store(&srv->draining, 1);
}

void gw_server_stop_accepting(struct gw_server *srv)
{
    atomic_store(&srv->draining, 1);
    atomic_store(&srv->closing, 1);
    for (int i = 0; i < srv->workers_running; i++) uv_async_send(&srv->workers[i].wakeup);
}

void gw_server_force_close(struct gw_server *srv)
{
    atomic_store(&srv->draining, 1);
    atomic_store(&srv->closing, 1);
    for (int i = 0; i < srv->workers_running; i++) {
        atomic_store(&srv->workers[i].force_close, 1);
        uv_async_send(&srv->workers[i].wakeup);
    }
}

void gw_server_destroy(struct gw_server *srv)
{
    for (int i = 0; i < srv->workers_running; i++) uv_thread_join(&srv->workers[i].thread);
    srv->workers_running = 0;
    for (int i = 0; i < srv->nworkers; i++) srv->workers[i].magic = 0;
    free(srv->workers);
    srv->workers = NULL;
    gw_swift_free(srv->swift);
    srv->swift = NULL;
    gw_blobfd_shutdown(); /* every request is over: the maps are idle */
    if (srv->cache) gw_cache_close(srv->cache);
    srv->cache = NULL;
    gw_neg_free(srv->neg);
    srv->neg = NULL;
    if (srv->access_fd >= 0) close(srv->access_fd);
    srv->access_fd = -1;
    gw_plancache_free(); /* every request is over: no hold is out */
    gw_stats_free();
    gw_server_conf_free(srv); /* every worker has ended: no configuration is in use */
    if (!uv_is_closing((uv_handle_t *)&srv->worker_exit))
        uv_close((uv_handle_t *)&srv->worker_exit, NULL);
}

void gw_server_reopen_logs(struct gw_server *srv)
{
    const char *path = srv->conf->access_log;
    if (srv->access_fd < 0 || strcmp(path, "-") == 0) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        gw_warn("server", "cannot reopen access log %s: %s", path, strerror(errno));
        return;
    }
    /* dup2 swaps the file under the same descriptor: writers never race. */
    dup2(fd, srv->access_fd);
    close(fd);
    gw_info("server", "access log reopened");
}

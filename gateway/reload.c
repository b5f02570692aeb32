/*
 * reload.c - SIGHUP: the configuration read again and handed to the
 * workers while they serve (server.h).
 *
 * The main thread reads the file with gw_conf_reload(): the same load and
 * checks as a start and as check-config, with the keys that need a restart
 * put back to their running values and each key that changed named.  A
 * file that fails changes nothing: its error, with file:line and key, goes
 * to the log and to swiftgate_config_reloads_total{result="failed"}.  A
 * file that passes and changes something is published: the process-wide
 * parts take it at once (log level, the fetch gate's bounds, the negative
 * cache's ttl, Swift's credentials), then every worker is woken and moves
 * to it on its own loop (gw_worker_take_conf: its services' conf, its
 * origin's, its access log format).  No connection is touched.  The line
 * "FILE: reloaded; N keys changed ..." is written once every worker runs
 * on the new configuration, whatever the log level: a request sent after
 * it is served with the new values.
 *
 * Invariants:
 *  - The published configuration is always whole and consistent: the keys
 *    that need a restart carry the running values, and the checks between
 *    keys ran on what is published.
 *  - Only the main thread publishes, retires and frees.  A worker moves
 *    only forward, to the slot published when it looks, and then stores
 *    that slot's generation.
 *  - A retired slot is freed once every worker's generation is past its
 *    own: a worker still on it, or that has read the slot but not yet said
 *    so, holds a generation no later than the slot's.  Nothing keeps a
 *    pointer into a configuration past a callback (services.h), so once a
 *    worker has moved on in a callback of its own, it can no longer reach
 *    the old one.
 */
#include "server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "conf.h"
#include "gate.h"
#include "neg.h"
#include "origin.h"
#include "stats.h"
#include "swift.h"
#include "util.h"

/* ---- on a worker's loop ---- */

void gw_worker_take_conf(struct gw_worker *w)
{
    struct gw_conf_slot *slot = atomic_load_explicit(&w->srv->published, memory_order_acquire);
    if (slot->generation == atomic_load_explicit(&w->conf_generation, memory_order_relaxed))
        return;
    w->svc.conf = slot->conf;
    w->access_format = gw_access_format_named(slot->conf->access_log_format);
    if (w->svc.origin != NULL) gw_origin_set_conf(w->svc.origin, slot->conf);
    atomic_store_explicit(&w->conf_generation, slot->generation, memory_order_release);
    uv_async_send(&w->srv->conf_moved);
}

/* ---- on the main loop ---- */

static void slot_free(struct gw_conf_slot *slot)
{
    if (slot->owned == NULL) return; /* the first: the caller's */
    gw_conf_free(slot->owned);
    free(slot->owned);
    free(slot);
}

/* Free the retired slots that no worker runs on, nor can move to; the
 * oldest generation a worker runs on. */
static uint64_t free_unused(struct gw_server *srv)
{
    uint64_t oldest = UINT64_MAX;
    for (int i = 0; i < srv->workers_running; i++) {
        uint64_t g = atomic_load_explicit(&srv->workers[i].conf_generation,
                                          memory_order_acquire);
        if (g < oldest) oldest = g;
    }
    for (struct gw_conf_slot **p = &srv->retired; *p != NULL;) {
        struct gw_conf_slot *slot = *p;
        if (slot->generation >= oldest) {
            p = &slot->next;
            continue;
        }
        *p = slot->next;
        slot_free(slot);
    }
    return oldest;
}

/*
 * A worker has moved.  Once all run on the newest, the reload is done and
 * says so (whatever the log level: it is what an operator waits for), so
 * that a request sent after that line is served with the new values.
 */
static void on_conf_moved(uv_async_t *a)
{
    struct gw_server *srv = a->data;
    uint64_t oldest = free_unused(srv);
    struct gw_conf_slot *now = atomic_load_explicit(&srv->published, memory_order_relaxed);
    if (srv->reload_summary == NULL || oldest < now->generation) return;
    gw_log_(GW_LOG_INFO, "reload", "%s", srv->reload_summary);
    free(srv->reload_summary);
    srv->reload_summary = NULL;
}

void gw_server_conf_init(struct gw_server *srv, const struct gw_conf *conf)
{
    srv->first = (struct gw_conf_slot){.conf = conf};
    atomic_init(&srv->published, &srv->first);
    srv->retired = NULL;
    for (int i = 0; i < srv->nworkers; i++) atomic_init(&srv->workers[i].conf_generation, 0);
    /* The main loop has an async already (worker_exit): this one cannot fail. */
    gw_assert(uv_async_init(srv->main_loop, &srv->conf_moved, on_conf_moved) == 0);
    srv->conf_moved.data = srv;
    uv_unref((uv_handle_t *)&srv->conf_moved); /* it never keeps the loop alive */
    gw_stats_config_read(0, 1);
}

void gw_server_conf_free(struct gw_server *srv)
{
    while (srv->retired != NULL) {
        struct gw_conf_slot *slot = srv->retired;
        srv->retired = slot->next;
        slot_free(slot);
    }
    struct gw_conf_slot *now = atomic_load(&srv->published);
    if (now != NULL) slot_free(now);
    atomic_store(&srv->published, NULL);
    free(srv->reload_summary);
    srv->reload_summary = NULL;
    if (!uv_is_closing((uv_handle_t *)&srv->conf_moved))
        uv_close((uv_handle_t *)&srv->conf_moved, NULL);
}

/* What a reload found, for its log lines. */
struct report {
    char changed[1024];         /* "[cache] ttl, [cors] allow_origin" */
    int nchanged;
};

static void note(void *ud, const struct gw_conf_change *ch)
{
    struct report *r = ud;
    if (ch->restart) {
        gw_warn("reload", "[%s] %s = %s needs a restart; keeping %s", ch->section, ch->name,
                ch->now, ch->was);
        return;
    }
    gw_info("reload", "[%s] %s: %s -> %s", ch->section, ch->name, ch->was, ch->now);
    size_t used = strlen(r->changed);
    snprintf(r->changed + used, sizeof(r->changed) - used, "%s[%s] %s",
             r->nchanged > 0 ? ", " : "", ch->section, ch->name);
    r->nchanged++;
}

/* The parts every worker shares take c now. */
static void apply_shared(struct gw_server *srv, const struct gw_conf *c)
{
    gw_log_level = gw_log_level_parse(c->log_level);
    gw_gate_configure(c);
    gw_neg_set_ttl(srv->neg, c->negative_ttl_ms);
    if (gw_swift_reconfigure(srv->swift, c))
        gw_info("reload", "Swift credentials changed: the next request to Swift asks for a "
                          "token with them");
}

/* c becomes the newest configuration; the workers are told. */
static void publish(struct gw_server *srv, struct gw_conf *c)
{
    struct gw_conf_slot *old = atomic_load_explicit(&srv->published, memory_order_relaxed);
    struct gw_conf_slot *slot = gw_calloc(1, sizeof(*slot));
    slot->conf = slot->owned = c;
    slot->generation = old->generation + 1;
    apply_shared(srv, c);
    old->next = srv->retired;
    srv->retired = old;
    srv->conf = c;
    atomic_store_explicit(&srv->published, slot, memory_order_release);
    for (int i = 0; i < srv->workers_running; i++) uv_async_send(&srv->workers[i].wakeup);
}

int gw_server_reload(struct gw_server *srv)
{
    const char *path = srv->conf->path;
    if (atomic_load(&srv->closing)) {
        gw_warn("reload", "%s: not reloaded: the gateway is shutting down", path);
        return -1;
    }
    struct gw_conf *c = gw_malloc(sizeof(*c));
    struct report r = {.nchanged = 0};
    char err[1024];
    if (gw_conf_reload(c, path, srv->conf, note, &r, err, sizeof(err)) != 0) {
        gw_error("reload", "%s; configuration not reloaded, nothing changed", err);
        gw_conf_free(c);
        free(c);
        gw_stats_config_read(1, 0);
        return -1;
    }
    gw_stats_config_read(1, 1);
    if (r.nchanged == 0) {
        gw_log_(GW_LOG_INFO, "reload", "%s: reloaded; no key that takes effect changed", path);
        gw_conf_free(c);
        free(c);
        return 0;
    }
    free(srv->reload_summary); /* an earlier reload not yet everywhere: this one says it all */
    srv->reload_summary = gw_asprintf("%s: reloaded; %d key%s changed for new requests: %s",
                                      c->path, r.nchanged, r.nchanged == 1 ? "" : "s",
                                      r.changed);
    publish(srv, c);
    return 0;
}

/*
 * gate.c - requests to Swift in flight, bounded for the process, and the
 * queues of those that wait (gate.h).
 *
 * Invariants:
 *  - `in_flight` counts the slots taken and never passes `max`; `queued`
 *    counts the waiters of every queue and never passes `queue_max` (but
 *    for a reload that lowers a bound: then nothing is granted or queued
 *    until the count is under it again).  Both, the bounds and every
 *    queue's list change under `lock` only.
 *  - A waiter is granted only on its own queue's loop (its async), so a
 *    grant never runs inside a curl callback or inside gw_gate_enter().
 *  - A queue's list is linked and unlinked only on its own loop (under
 *    `lock`, for the counts other threads read), so that loop may walk it
 *    without the lock (gw_gate_find).
 *  - A queue's timer runs only while the queue has waiters.
 */
#include "gate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "conf.h"
#include "http.h"
#include "util.h"

/* How often a queue looks for waiters past fetch_queue_timeout. */
#define EXPIRE_TICK_MS 100
/* Grants made per wake-up at most; more wait for the next. */
#define GRANT_BATCH 64
#define MAX_QUEUES 256

struct gw_gate_queue {
    uv_loop_t *loop;
    uv_async_t async;               /* a slot may be free: grant */
    uv_timer_t timer;               /* expire */
    int handles_open;
    struct gw_gate_waiter *head, *tail;
    gw_gate_cb grant, expire;
    int index;                      /* in queues[] */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t max = 256, queue_max = 4096, timeout_ms = 10000;
static uint64_t in_flight, queued;
static atomic_uint_fast64_t refused, expired;
static struct gw_gate_queue *queues[MAX_QUEUES];

/* ---- the lists (lock held) ---- */

static void unlink_waiter(struct gw_gate_queue *q, struct gw_gate_waiter *w)
{
    if (w->prev) w->prev->next = w->next;
    else q->head = w->next;
    if (w->next) w->next->prev = w->prev;
    else q->tail = w->prev;
    w->prev = w->next = NULL;
    w->queued = 0;
    queued--;
}

/* Wake the queues that have waiters, q first if it has any. */
static void wake_locked(struct gw_gate_queue *q)
{
    if (q != NULL && q->head != NULL) {
        uv_async_send(&q->async);
        return;
    }
    for (int i = 0; i < MAX_QUEUES; i++)
        if (queues[i] != NULL && queues[i]->head != NULL) uv_async_send(&queues[i]->async);
}

/* ---- the bounds ---- */

void gw_gate_configure(const struct gw_conf *conf)
{
    pthread_mutex_lock(&lock);
    max = conf->max_fetches;
    queue_max = conf->fetch_queue;
    timeout_ms = conf->fetch_queue_timeout_ms;
    /* More room (a reload): the waiters must not wait for a release. */
    if (queued > 0 && in_flight < max) wake_locked(NULL);
    pthread_mutex_unlock(&lock);
}

/* ---- on the queue's loop ---- */

static void on_wake(uv_async_t *a)
{
    struct gw_gate_queue *q = a->data;
    struct gw_gate_waiter *granted[GRANT_BATCH];
    size_t n = 0;

    pthread_mutex_lock(&lock);
    while (n < GRANT_BATCH && q->head != NULL && in_flight < max) {
        struct gw_gate_waiter *w = q->head;
        unlink_waiter(q, w);
        in_flight++;
        granted[n++] = w;
    }
    if (n == GRANT_BATCH && q->head != NULL && in_flight < max) uv_async_send(&q->async);
    if (q->head == NULL) uv_timer_stop(&q->timer);
    pthread_mutex_unlock(&lock);
    /* Each grant may enter, release or cancel others: no lock held. */
    for (size_t i = 0; i < n; i++) q->grant(granted[i]);
}

static void on_tick(uv_timer_t *t)
{
    struct gw_gate_queue *q = t->data;
    uint64_t now = gw_now_ms();

    for (;;) {
        pthread_mutex_lock(&lock);
        struct gw_gate_waiter *w = q->head;
        if (w == NULL || now - w->since_ms < timeout_ms) {
            if (w == NULL) uv_timer_stop(&q->timer);
            pthread_mutex_unlock(&lock);
            return;
        }
        unlink_waiter(q, w);
        pthread_mutex_unlock(&lock);
        atomic_fetch_add_explicit(&expired, 1, memory_order_relaxed);
        /* The oldest first; expire may change the queue, so look again. */
        q->expire(w);
    }
}

struct gw_gate_queue *gw_gate_queue_new(uv_loop_t *loop, gw_gate_cb grant, gw_gate_cb expire)
{
    struct gw_gate_queue *q = gw_calloc(1, sizeof(*q));
    q->loop = loop;
    q->grant = grant;
    q->expire = expire;
    gw_assert(uv_async_init(loop, &q->async, on_wake) == 0);
    gw_assert(uv_timer_init(loop, &q->timer) == 0);
    q->async.data = q->timer.data = q;
    q->handles_open = 2;
    pthread_mutex_lock(&lock);
    q->index = -1;
    for (int i = 0; i < MAX_QUEUES && q->index < 0; i++)
        if (queues[i] == NULL) queues[i] = q, q->index = i;
    pthread_mutex_unlock(&lock);
    gw_assert(q->index >= 0);
    return q;
}

static void on_closed(uv_handle_t *h)
{
    struct gw_gate_queue *q = h->data;
    if (--q->handles_open == 0) free(q);
}

void gw_gate_queue_close(struct gw_gate_queue *q)
{
    pthread_mutex_lock(&lock);
    while (q->head != NULL) unlink_waiter(q, q->head);
    queues[q->index] = NULL;
    pthread_mutex_unlock(&lock);
    uv_close((uv_handle_t *)&q->async, on_closed);
    uv_close((uv_handle_t *)&q->timer, on_closed);
}

/* ---- from the requests ---- */

int gw_gate_enter(struct gw_gate_queue *q, struct gw_gate_waiter *w)
{
    int rc = GW_GATE_NOW;
    pthread_mutex_lock(&lock);
    if (in_flight < max && q->head == NULL) {
        in_flight++;
    } else if (queued < queue_max) {
        w->since_ms = gw_now_ms();
        w->queued = 1;
        w->next = NULL;
        w->prev = q->tail;
        if (q->tail) q->tail->next = w;
        else q->head = w;
        q->tail = w;
        queued++;
        if (!uv_is_active((uv_handle_t *)&q->timer))
            uv_timer_start(&q->timer, on_tick, EXPIRE_TICK_MS, EXPIRE_TICK_MS);
        /* A slot may be free while older waiters of this loop hold the line. */
        if (in_flight < max) uv_async_send(&q->async);
        rc = GW_GATE_QUEUED;
    } else {
        rc = GW_ELIMIT;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void gw_gate_cancel(struct gw_gate_queue *q, struct gw_gate_waiter *w)
{
    pthread_mutex_lock(&lock);
    if (w->queued) unlink_waiter(q, w);
    pthread_mutex_unlock(&lock);
}

struct gw_gate_waiter *gw_gate_find(struct gw_gate_queue *q,
                                    int (*pred)(struct gw_gate_waiter *w))
{
    /* Only q's loop links or unlinks q's waiters, so its walk needs no lock. */
    for (struct gw_gate_waiter *w = q->head; w != NULL; w = w->next)
        if (pred(w)) return w;
    return NULL;
}

void gw_gate_refused(void)
{
    atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
}

void gw_gate_release(struct gw_gate_queue *q)
{
    pthread_mutex_lock(&lock);
    gw_assert(in_flight > 0);
    in_flight--;
    if (queued > 0) wake_locked(q);
    pthread_mutex_unlock(&lock);
}

void gw_gate_render(struct gw_buf *b)
{
    pthread_mutex_lock(&lock);
    uint64_t f = in_flight, w = queued, m = max;
    pthread_mutex_unlock(&lock);
    gw_buf_printf(b, "# HELP swiftgate_swift_requests_in_flight Requests to Swift running now "
                     "(bounded by [swift] max_fetches).\n"
                     "# TYPE swiftgate_swift_requests_in_flight gauge\n"
                     "swiftgate_swift_requests_in_flight %llu\n"
                     "# HELP swiftgate_swift_requests_max [swift] max_fetches.\n"
                     "# TYPE swiftgate_swift_requests_max gauge\n"
                     "swiftgate_swift_requests_max %llu\n"
                     "# HELP swiftgate_swift_requests_queued Requests to Swift waiting for a slot "
                     "now (bounded by [swift] fetch_queue).\n"
                     "# TYPE swiftgate_swift_requests_queued gauge\n"
                     "swiftgate_swift_requests_queued %llu\n"
                     "# HELP swiftgate_swift_requests_refused_total Requests to Swift refused: the "
                     "queue was full (reason=\"queue_full\") or they waited past "
                     "fetch_queue_timeout (reason=\"queue_timeout\").\n"
                     "# TYPE swiftgate_swift_requests_refused_total counter\n"
                     "swiftgate_swift_requests_refused_total{reason=\"queue_full\"} %llu\n"
                     "swiftgate_swift_requests_refused_total{reason=\"queue_timeout\"} %llu\n",
                  (unsigned long long)f, (unsigned long long)m, (unsigned long long)w,
                  (unsigned long long)atomic_load(&refused),
                  (unsigned long long)atomic_load(&expired));
}

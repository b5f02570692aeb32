/*
 * gate.h - the process's bound on requests to Swift in flight ([swift]
 * max_fetches) and the bounded queue in front of it ([swift] fetch_queue,
 * fetch_queue_timeout).
 *
 * Each loop has a struct gw_gate_queue; a request waits on its own loop's
 * queue, oldest first, and is granted its slot on that loop.  A slot freed
 * on one loop goes to the waiters of the freeing loop first, then to those
 * of the others (woken with a uv_async_t).  Everything here but the
 * callbacks is safe from any thread; grant and expire run on the queue's
 * loop, outside any lock, never from inside gw_gate_enter().
 */
#ifndef GW_GATE_H
#define GW_GATE_H

#include <stdint.h>

#include <uv.h>

struct gw_buf;
struct gw_conf;
struct gw_gate_queue;

/* Linked into a queue while it waits; owned by the request. */
struct gw_gate_waiter {
    struct gw_gate_waiter *prev, *next;
    uint64_t since_ms;
    int queued;
};

/* Called with the slot taken (grant) or after fetch_queue_timeout (expire). */
typedef void (*gw_gate_cb)(struct gw_gate_waiter *w);

/*
 * The bounds from conf: before any queue, and again on a reload (from any
 * thread).  A bound that grows wakes the waiters it now leaves room for; one
 * that shrinks below what is taken or queued takes nothing back, it only
 * stops granting and queueing until the counts fall under it.
 */
void gw_gate_configure(const struct gw_conf *conf);
struct gw_gate_queue *gw_gate_queue_new(uv_loop_t *loop, gw_gate_cb grant, gw_gate_cb expire);
/* Drops the waiters (no callback) and closes the handles; freed by the loop. */
void gw_gate_queue_close(struct gw_gate_queue *q);

#define GW_GATE_NOW 1       /* the slot is taken: go on */
#define GW_GATE_QUEUED 0    /* grant or expire comes later */
/* A slot for w, or a place in q; GW_ELIMIT when the queue is full too. */
int gw_gate_enter(struct gw_gate_queue *q, struct gw_gate_waiter *w);
/* A waiting request that is no longer wanted leaves the queue. */
void gw_gate_cancel(struct gw_gate_queue *q, struct gw_gate_waiter *w);
/* On q's loop only: the first waiter of q for which pred is true, or NULL. */
struct gw_gate_waiter *gw_gate_find(struct gw_gate_queue *q,
                                    int (*pred)(struct gw_gate_waiter *w));
/* Count a request turned away when gw_gate_enter() said GW_ELIMIT. */
void gw_gate_refused(void);
/* A slot taken by gw_gate_enter() or a grant is free again. */
void gw_gate_release(struct gw_gate_queue *q);

/* The gauges and counter, as Prometheus text appended to b. */
void gw_gate_render(struct gw_buf *b);

#endif

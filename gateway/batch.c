/*
 * batch.c - a client command's transfers (batch.h): one libcurl multi
 * handle driven by curl_multi_poll() in a plain loop (a CLI, not the
 * gateway's event loop), one slot with its own easy handle per job, so
 * that every transfer of a slot reuses its connections.
 *
 * A slot is idle, sending (its handle on the multi handle) or waiting
 * until `due` to send again (a retry's backoff).  Invariants: only the
 * loop adds and removes easy handles, never a curl callback; `busy`
 * counts the slots that are not idle; every item started ends in the
 * command's done() returning GW_BATCH_OVER or, after a signal or a
 * breakdown of the loop, in `cancelled`; items never started are the
 * rest.  The wait also watches the signal pipe, so a signal is never lost
 * between the flag test and the wait.
 */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "origin.h"
#include "tally.h"
#include "util.h"

#define SLOT_MAGIC 0x42415443u      /* "BATC" */
#define BATCH_MAX_WAIT_MS 1000

enum slot_state { SLOT_IDLE, SLOT_SENDING, SLOT_WAITING };

struct batch_slot {
    unsigned magic;     /* SLOT_MAGIC: reached through CURLOPT_PRIVATE */
    unsigned index;
    enum slot_state state;
    uint64_t due;       /* SLOT_WAITING: gw_now_ms() to send at */
    CURL *easy;
};

static int slot_send(struct gw_batch *b, struct batch_slot *sl)
{
    curl_easy_setopt(sl->easy, CURLOPT_PRIVATE, sl); /* a reset clears it */
    if (curl_multi_add_handle(b->multi, sl->easy) != CURLM_OK) return GW_ELIMIT;
    sl->state = SLOT_SENDING;
    return 0;
}

/* What start() or done() said for the slot: send now, later, or free it. */
static int slot_next(struct gw_batch *b, struct batch_slot *sl, long next)
{
    if (next == GW_BATCH_OVER) {
        sl->state = SLOT_IDLE;
        b->busy--;
        return 0;
    }
    if (next > 0) {
        sl->state = SLOT_WAITING;
        sl->due = gw_now_ms() + (uint64_t)next;
        return 0;
    }
    return slot_send(b, sl);
}

/* Idle slots take the next items; waiting slots whose time came send. */
static int feed(struct gw_batch *b)
{
    uint64_t now = gw_now_ms();
    for (int i = 0; i < b->jobs && !gw_cli_signal(); i++) {
        struct batch_slot *sl = &b->slots[i];
        int rc = 0;
        if (sl->state == SLOT_IDLE && b->next < b->nitems) {
            b->busy++;
            size_t item = b->next++;
            rc = slot_next(b, sl, b->ops->start(b->ud, sl->index, item, sl->easy));
        } else if (sl->state == SLOT_WAITING && now >= sl->due) {
            rc = slot_send(b, sl);
        }
        if (rc != 0) return rc;
    }
    return 0;
}

/* Hand every finished transfer to done(); returns how many, or GW_ELIMIT. */
static long drain(struct gw_batch *b)
{
    long n = 0;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(b->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) continue;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        struct batch_slot *sl = (struct batch_slot *)(void *)priv;
        GW_CHECK_MAGIC(sl, SLOT_MAGIC);
        gw_assert(sl->state == SLOT_SENDING);
        CURLcode res = m->data.result; /* m is invalid after the remove */
        curl_multi_remove_handle(b->multi, sl->easy);
        sl->state = SLOT_IDLE; /* until done() says otherwise */
        if (slot_next(b, sl, b->ops->done(b->ud, sl->index, sl->easy, res)) != 0) return GW_ELIMIT;
        n++;
    }
    return n;
}

/* After a signal or a failure of the loop: what is in flight, cancelled. */
static void cancel_all(struct gw_batch *b)
{
    for (int i = 0; i < b->jobs; i++) {
        struct batch_slot *sl = &b->slots[i];
        if (sl->state == SLOT_IDLE) continue;
        if (sl->state == SLOT_SENDING) curl_multi_remove_handle(b->multi, sl->easy);
        sl->state = SLOT_IDLE;
        b->busy--;
        b->cancelled++;
    }
}

/* How long the loop may wait: until the next tick or retry, at most a second. */
static long wait_ms(const struct gw_batch *b, uint64_t now, uint64_t next_tick)
{
    uint64_t wait = BATCH_MAX_WAIT_MS;
    if (b->interval_ms > 0 && next_tick - now < wait) wait = next_tick > now ? next_tick - now : 0;
    for (int i = 0; i < b->jobs; i++) {
        const struct batch_slot *sl = &b->slots[i];
        if (sl->state == SLOT_WAITING) {
            uint64_t left = sl->due > now ? sl->due - now : 0;
            if (left < wait) wait = left;
        }
    }
    return (long)wait;
}

static int setup(struct gw_batch *b)
{
    b->multi = curl_multi_init();
    if (b->multi == NULL) return GW_ELIMIT;
    /* Keep one idle connection per slot and host, so each transfer reuses one. */
    curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS, (long)b->jobs * 2);
    b->slots = gw_calloc((size_t)b->jobs, sizeof(*b->slots));
    for (int i = 0; i < b->jobs; i++) {
        struct batch_slot *sl = &b->slots[i];
        sl->magic = SLOT_MAGIC;
        sl->index = (unsigned)i;
        if ((sl->easy = curl_easy_init()) == NULL) return GW_ELIMIT;
    }
    return 0;
}

int gw_batch_run(struct gw_batch *b)
{
    int rc = setup(b);
    if (rc != 0) return rc;
    uint64_t next_tick = b->t0 + b->interval_ms;
    struct curl_waitfd wfd = {.fd = gw_cli_signal_fd(), .events = CURL_WAIT_POLLIN};
    for (;;) {
        if ((rc = feed(b)) != 0) goto leave;
        if (gw_cli_signal() || (b->busy == 0 && b->next == b->nitems)) break;
        int running;
        CURLMcode mc = curl_multi_perform(b->multi, &running);
        if (mc != CURLM_OK) {
            fprintf(stderr, "%s: curl_multi_perform: %s\n", b->prog, curl_multi_strerror(mc));
            rc = GW_ELIMIT;
            goto leave;
        }
        long finished = drain(b);
        if (finished < 0) {
            rc = (int)finished;
            goto leave;
        }
        uint64_t now = gw_now_ms();
        if (b->interval_ms > 0 && now >= next_tick) {
            if (b->ops->tick)
                b->ops->tick(b->ud);
            else if (b->tally)
                gw_tally_progress(b->tally);
            next_tick = now + b->interval_ms;
        }
        if (finished > 0) continue; /* start the next ones before waiting */
        mc = curl_multi_poll(b->multi, &wfd, 1, (int)wait_ms(b, now, next_tick), NULL);
        if (mc != CURLM_OK) {
            fprintf(stderr, "%s: curl_multi_poll: %s\n", b->prog, curl_multi_strerror(mc));
            rc = GW_ELIMIT;
            goto leave;
        }
    }
leave:
    if (gw_cli_signal() || rc != 0) cancel_all(b);
    return rc;
}

int gw_batch_run_list(struct gw_batch *b, const char *prog, const struct gw_batch_ops *ops,
                      void *ud, const struct gw_cli_opts *o, size_t nitems, struct gw_tally *t)
{
    b->prog = prog;
    b->ops = ops;
    b->ud = ud;
    b->jobs = o->jobs;
    b->nitems = nitems;
    b->interval_ms = o->interval_ms > 0 ? (uint64_t)o->interval_ms : 0;
    b->t0 = t->t0;
    b->tally = t;
    int rc = gw_batch_run(b);
    t->t_end = gw_now_ms();
    return rc;
}

void gw_batch_easy(CURL *e, const char *prog, uint64_t timeout_ms, char *errbuf,
                   curl_write_callback on_header, curl_write_callback on_body, void *ud,
                   const char *url)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    gw_origin_easy_defaults(e);
    char agent[64];
    snprintf(agent, sizeof(agent), "swiftgate-%s/%s", prog, GW_VERSION);
    curl_easy_setopt(e, CURLOPT_USERAGENT, agent); /* copied by curl */
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    /* The response goes to the command's callbacks. */
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, ud);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, ud);
}

void gw_batch_free(struct gw_batch *b)
{
    if (b->slots) {
        for (int i = 0; i < b->jobs; i++) {
            struct batch_slot *sl = &b->slots[i];
            if (sl->easy == NULL) continue;
            if (sl->state == SLOT_SENDING) curl_multi_remove_handle(b->multi, sl->easy);
            curl_easy_cleanup(sl->easy);
            sl->magic = 0;
        }
        free(b->slots);
        b->slots = NULL;
    }
    if (b->multi) curl_multi_cleanup(b->multi);
    b->multi = NULL;
}

/*
 * backup_int.h - what the files of `swiftgate backup` share and nothing
 * else sees: the state of one command (struct backup) and the run.  Only
 * gateway/backup*.c include it; the rest knows backup.h alone.
 *
 * Who writes what: backup.c fills the options, the destination and the
 * list (from the Fractals API, fapi.c) before the first transfer; from then
 * on they are only read, but for the Swift token, which backup_run.c
 * renews after a 401.  backup_run.c owns the transfers (batch.c runs
 * them) and counts the outcomes; the terminal is tally.c's.  All of it
 * runs on one thread; a signal handler only records the signal (cli.h).
 */
#ifndef GW_BACKUP_INT_H
#define GW_BACKUP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "cli.h"
#include "tally.h"

struct gw_conf;

/* One listed fractal. */
struct backup_item {
    char uuid[37];
    char checksum[65];          /* the API's, lower-case hex: 32 MD5, 64 SHA-256; "" none */
    long page;                  /* where the listing has it */
    size_t index;
};

struct backup_opts {
    struct gw_cli_opts run;     /* -j, --from-api, --timeout, --report, ... */
    char *gateway;              /* -g, without a trailing '/'; owned; or NULL */
    const char *conf_path;      /* -c, or NULL */
    const char *token;          /* --token, or SWIFTGATE_WRITE_TOKEN (-g) */
};

enum backup_outcome {
    BK_STORED,                  /* PUT, and Swift's ETag is the image's MD5 */
    BK_PRESENT,                 /* Swift held it already with the same MD5 */
    BK_FAILED,
    BK_N
};

struct backup_slot;             /* one fractal in flight; backup_run.c's */

struct backup {
    struct backup_opts opt;
    int begun;                  /* gw_cli_begin() ran */
    char *api;                  /* --from-api without a trailing '/'; owned */

    /* -c: Swift itself */
    struct gw_conf *conf;
    char *storage_url, *swift_token;
    uint64_t token_generation;  /* counts the renewals */

    /* the list */
    struct backup_item *items;
    size_t nitems, cap;
    uint64_t bad_listing;       /* bad pages and objects of the listing */

    /* the run: backup_run.c's */
    struct gw_batch batch;
    struct backup_slot *slots;
    uint64_t count[BK_N];
    struct gw_tally tally;
};

/* ---- backup_run.c ---- */

/*
 * Copy every item, opt.run.jobs at a time (batch.h): HEAD at the
 * destination, GET from the API, PUT unless the destination holds the same
 * MD5; transient failures are retried with backoff.  Each outcome is
 * counted in b->count and b->tally (a failure goes to gw_tally_failure()).
 * Returns after the last item or a signal, with b->tally.t_end set.  0, or
 * GW_ELIMIT when libcurl's loop failed (message printed).
 */
int gw_backup_run(struct backup *b);

/* Free what gw_backup_run() made, whether or not it ran or finished. */
void gw_backup_run_free(struct backup *b);

#endif

/*
 * stats_read.c - the metrics that are read when /metrics is scraped rather
 * than counted as things happen: the cache's caps, evictions and index
 * map (cache.h's gw_cache_stats()), the process's own figures, and the
 * build.
 *
 * The process_* series are those the Prometheus client libraries export
 * for a Linux process, with their names, units and sources: start time
 * from /proc/self/stat and /proc/stat's btime, CPU time and memory from
 * /proc/self/stat, descriptors from /proc/self/fd and RLIMIT_NOFILE.  A
 * file that cannot be read leaves its series out rather than show a
 * false 0.  Everything here runs on the admin listener's loop, once per
 * scrape: procfs reads do not block on a disk.
 *
 * swiftgate_build_info names the version and the commit built (GW_COMMIT,
 * set by the Makefile for this file alone; "unknown" outside a git
 * checkout).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cache.h"
#include "http.h"
#include "stats.h"
#include "util.h"

#ifndef GW_COMMIT
#define GW_COMMIT "unknown"
#endif

static void gauge(struct gw_buf *b, const char *name, const char *help, unsigned long long v)
{
    gw_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name, v);
}

void gw_stats_render_cache(struct gw_buf *b, struct gw_cache *c)
{
    struct gw_cache_stats cs;

    if (c == NULL) return;
    gw_cache_stats(c, &cs);
    if (cs.max_size != 0)
        gauge(b, "swiftgate_cache_max_bytes", "[cache] max_size: the cap on cached bytes.",
              cs.max_size);
    if (cs.max_entries != 0)
        gauge(b, "swiftgate_cache_max_entries", "[cache] max_entries: the cap on entries.",
              cs.max_entries);
    gauge(b, "swiftgate_cache_temp_bytes", "Bytes reserved for objects being fetched; they "
                                           "count against [cache] max_size.", cs.reserved);
    gw_buf_printf(b, "# HELP swiftgate_cache_evictions_total Entries evicted, by the reason "
                     "of their eviction pass.\n"
                     "# TYPE swiftgate_cache_evictions_total counter\n");
    for (int r = 0; r < GW_CACHE_EVICT_NREASONS; r++)
        gw_buf_printf(b, "swiftgate_cache_evictions_total{reason=\"%s\"} %llu\n",
                      gw_cache_evict_reason_name((enum gw_cache_evict_reason)r),
                      (unsigned long long)cs.evictions[r]);
    if (cs.index_size == 0) return;     /* LMDB said nothing */
    gauge(b, "swiftgate_cache_index_size_bytes", "[cache] index_size: the LMDB map's size.",
          cs.index_size);
    gauge(b, "swiftgate_cache_index_used_bytes", "Bytes of the LMDB map's pages in use (its "
                                                 "free list not counted); entries are evicted "
                                                 "above 80%.", cs.index_used);
}

/* Seconds since the epoch at which the system booted (/proc/stat btime); 0 if unknown. */
static unsigned long long boot_time(void)
{
    char line[256];
    unsigned long long btime = 0;
    FILE *f = fopen("/proc/stat", "re");

    if (f == NULL) return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %llu", &btime) == 1) break;
    fclose(f);
    return btime;
}

/* What the client libraries take from /proc/self/stat. */
struct proc_stat {
    unsigned long long utime, stime;    /* clock ticks */
    unsigned long long starttime;       /* clock ticks after boot */
    unsigned long long vsize;           /* bytes */
    long long rss;                      /* pages */
};

static int read_proc_stat(struct proc_stat *ps)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (f == NULL) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name, field 2, is in parentheses and may hold anything. */
    const char *p = strrchr(buf, ')');
    if (p == NULL) return -1;
    /* From field 3 (state) on: utime is 14, stime 15, starttime 22, vsize 23, rss 24. */
    int got = sscanf(p + 1, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu "
                            "%*s %*s %*s %*s %*s %*s %llu %llu %lld",
                     &ps->utime, &ps->stime, &ps->starttime, &ps->vsize, &ps->rss);
    return got == 5 ? 0 : -1;
}

/* Descriptors open now, the one reading /proc/self/fd not counted; -1 if unknown. */
static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = 0;

    if (d == NULL) return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) n++;
    closedir(d);
    return n;
}

void gw_stats_render_process(struct gw_buf *b)
{
    struct proc_stat ps;
    struct rlimit rl;
    long ticks = sysconf(_SC_CLK_TCK);
    long fds = open_fds();

    gw_buf_printf(b, "# HELP swiftgate_build_info The version and commit built; always 1.\n"
                     "# TYPE swiftgate_build_info gauge\n"
                     "swiftgate_build_info{version=\"%s\",commit=\"%s\"} 1\n",
                  GW_VERSION, GW_COMMIT);
    if (ticks > 0 && read_proc_stat(&ps) == 0) {
        unsigned long long btime = boot_time();
        gw_buf_printf(b, "# HELP process_cpu_seconds_total Total user and system CPU time "
                         "spent in seconds.\n"
                         "# TYPE process_cpu_seconds_total counter\n"
                         "process_cpu_seconds_total %.2f\n",
                      (double)(ps.utime + ps.stime) / (double)ticks);
        if (btime != 0)
            gw_buf_printf(b, "# HELP process_start_time_seconds Start time of the process "
                             "since unix epoch in seconds.\n"
                             "# TYPE process_start_time_seconds gauge\n"
                             "process_start_time_seconds %.2f\n",
                          (double)btime + (double)ps.starttime / (double)ticks);
        gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", ps.vsize);
        gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
              (unsigned long long)(ps.rss > 0 ? ps.rss : 0) *
                  (unsigned long long)sysconf(_SC_PAGESIZE));
    }
    if (fds >= 0)
        gauge(b, "process_open_fds", "Number of open file descriptors.", (unsigned long long)fds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        gauge(b, "process_max_fds", "Maximum number of open file descriptors.",
              (unsigned long long)rl.rlim_cur);
}

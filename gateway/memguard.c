/*
 * memguard.c - memory watermarks (memguard.h).
 *
 * Invariants: `level` is only ever the judgement of one whole sample (the
 * thread that wins the compare-and-swap on `sampled_ms` takes it and
 * stores its verdict; the others read the last one); a change of level is
 * logged once, by the thread that saw it.  The budget is set before any
 * worker starts and only read after.  malloc_trim runs only from
 * gw_memguard_trim(), off the loops and only while refusing: it holds each
 * arena's lock while it walks it (under a millisecond for the soak's 8 MiB
 * of heap, measured at some 200 ms for a 192 MiB heap of 10,000 scattered
 * free chunks).
 */
#include "memguard.h"

#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util.h"

/* A cgroup "limit" this high is no limit (v1 writes 2^63 rounded to a page). */
#define CGROUP_NO_LIMIT (UINT64_C(1) << 62)
/* Directory levels of a cgroup path looked at for a limit, at most. */
#define CGROUP_MAX_DEPTH 32

static uint64_t budget;
static _Atomic uint64_t sampled_ms;
static _Atomic int level = GW_MEM_OK;

static uint64_t read_u64_file(const char *path)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    uint64_t v;
    buf[strcspn(buf, "\n")] = '\0';
    if (gw_parse_u64(buf, &v) != 0 || v >= CGROUP_NO_LIMIT) return 0; /* "max": none */
    return v;
}

/* The smallest limit set on dir (under root) or on any cgroup above it. */
static uint64_t limit_up_from(const char *root, const char *dir, size_t dirlen,
                              const char *file)
{
    uint64_t best = 0;
    for (int depth = 0; depth < CGROUP_MAX_DEPTH; depth++) {
        char path[4096];
        int n = snprintf(path, sizeof(path), "%s%.*s/%s", root, (int)dirlen, dir, file);
        if (n > 0 && (size_t)n < sizeof(path)) {
            uint64_t v = read_u64_file(path);
            if (v != 0 && (best == 0 || v < best)) best = v;
        }
        while (dirlen > 0 && dir[dirlen - 1] != '/') dirlen--;
        if (dirlen == 0) break;
        dirlen--; /* the slash: the parent */
    }
    return best;
}

uint64_t gw_memguard_cgroup_limit(const char *root, const char *self_cgroup)
{
    /* Lines are "id:controllers:path": "0::/x" (v2), "4:memory:/x" (v1). */
    for (const char *line = self_cgroup; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2 != NULL) {
            const char *dir = c2 + 1;
            size_t dirlen = len - (size_t)(dir - line);
            char where[4096];
            if (c2 == c1 + 1 && strncmp(line, "0:", 2) == 0) {
                snprintf(where, sizeof(where), "%s", root);
                uint64_t v = limit_up_from(where, dir, dirlen, "memory.max");
                if (v) return v;
            } else if ((size_t)(c2 - c1 - 1) == 6 && strncmp(c1 + 1, "memory", 6) == 0) {
                snprintf(where, sizeof(where), "%s/memory", root);
                uint64_t v = limit_up_from(where, dir, dirlen, "memory.limit_in_bytes");
                if (v) return v;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return 0;
}

static char *read_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0) return NULL;
    buf[n] = '\0';
    return buf;
}

void gw_memguard_init(uint64_t max_memory)
{
    budget = max_memory;
    atomic_store(&level, GW_MEM_OK);
    atomic_store(&sampled_ms, 0);
    char text[4096];
    uint64_t cg = 0;
    if (read_text("/proc/self/cgroup", text, sizeof(text)) != NULL)
        cg = gw_memguard_cgroup_limit("/sys/fs/cgroup", text);
    if (budget == 0 && cg != 0) {
        budget = cg / 4 * 3;
        gw_info("memory", "cgroup memory limit %" PRIu64 " MiB: max_memory %" PRIu64 " MiB",
                cg >> 20, budget >> 20);
    } else if (cg != 0 && budget / 8 * 7 >= cg) {
        /* The kernel's OOM killer would act before the gateway sheds anything. */
        gw_warn("memory", "max_memory %" PRIu64 " MiB is above the cgroup's memory limit %" PRIu64
                " MiB: the OOM killer, not the gateway, would meet the load; lower max_memory "
                "or leave it 0", budget >> 20, cg >> 20);
    }
}

void gw_memguard_trim(void)
{
    static _Atomic uint64_t trimmed_ms;
    if (atomic_load(&level) == GW_MEM_OK) return;
    uint64_t now = gw_now_ms(), last = atomic_load(&trimmed_ms);
    if (now - last < GW_MEM_TRIM_MS || !atomic_compare_exchange_strong(&trimmed_ms, &last, now))
        return;
    malloc_trim(0);
}

uint64_t gw_memguard_budget(void)
{
    return budget;
}

static enum gw_mem_level worse(enum gw_mem_level a, enum gw_mem_level b)
{
    return a > b ? a : b;
}

enum gw_mem_level gw_memguard_judge(uint64_t as_limit, uint64_t as_used, uint64_t max,
                                    uint64_t anon, enum gw_mem_level was)
{
    enum gw_mem_level as = GW_MEM_OK, res = GW_MEM_OK;
    if (as_limit != 0) {
        uint64_t left = as_limit > as_used ? as_limit - as_used : 0;
        if (left < GW_MEM_AS_CONN_RESERVE) as = GW_MEM_NO_CONNS;
        else if (left < GW_MEM_AS_MISS_RESERVE) as = GW_MEM_NO_MISSES;
        else if (was != GW_MEM_OK && left < GW_MEM_AS_CLEAR_RESERVE) as = GW_MEM_NO_MISSES;
    }
    if (max != 0) {
        if (anon >= max / 16 * 15) res = GW_MEM_NO_CONNS;
        else if (anon >= max / 8 * 7) res = GW_MEM_NO_MISSES;
        else if (was != GW_MEM_OK && anon >= max / 16 * 13) res = GW_MEM_NO_MISSES;
    }
    return worse(as, res);
}

/* VmSize and anonymous resident bytes, from /proc/self/statm; -1 if unreadable. */
static int sample_usage(uint64_t *vm, uint64_t *anon)
{
    char text[256];
    unsigned long long size, resident, shared;
    if (read_text("/proc/self/statm", text, sizeof(text)) == NULL ||
        sscanf(text, "%llu %llu %llu", &size, &resident, &shared) != 3)
        return -1;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    *vm = size * page;
    *anon = (resident > shared ? resident - shared : 0) * page;
    return 0;
}

static void log_change(enum gw_mem_level was, enum gw_mem_level now, uint64_t as_limit,
                       uint64_t vm, uint64_t anon)
{
    static const char *const what[] = {"taking everything again",
                                       "refusing new misses (503), serving hits",
                                       "refusing new misses and new connections (503)"};
    char as[96] = "", res[96] = "";
    if (as_limit)
        snprintf(as, sizeof(as), "; address space %" PRIu64 " of RLIMIT_AS %" PRIu64 " MiB",
                 vm >> 20, as_limit >> 20);
    if (budget)
        snprintf(res, sizeof(res), "; resident %" PRIu64 " of max_memory %" PRIu64 " MiB",
                 anon >> 20, budget >> 20);
    gw_log(now > was ? GW_LOG_WARNING : GW_LOG_INFO, "memory", "%s%s%s", what[now], as, res);
}

enum gw_mem_level gw_memguard_level(void)
{
    uint64_t now = gw_now_ms(), last = atomic_load_explicit(&sampled_ms, memory_order_relaxed);
    if (now - last < GW_MEM_SAMPLE_MS ||
        !atomic_compare_exchange_strong(&sampled_ms, &last, now))
        return (enum gw_mem_level)atomic_load_explicit(&level, memory_order_relaxed);
    struct rlimit rl;
    uint64_t as_limit = 0, vm = 0, anon = 0;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        as_limit = (uint64_t)rl.rlim_cur;
    if ((as_limit == 0 && budget == 0) || sample_usage(&vm, &anon) != 0) {
        atomic_store(&level, GW_MEM_OK);
        return GW_MEM_OK;
    }
    enum gw_mem_level was = (enum gw_mem_level)atomic_load(&level);
    enum gw_mem_level is = gw_memguard_judge(as_limit, vm, budget, anon, was);
    if (is != was) {
        atomic_store(&level, is);
        log_change(was, is, as_limit, vm, anon);
    }
    return is;
}

/*
 * memguard.h - memory watermarks: when the process nears a memory limit it
 * stops taking on load (new misses first, then new connections) instead of
 * running into a failed allocation, and takes it on again once usage drops.
 *
 * Two limits are watched, each against the measure the kernel enforces:
 *  - RLIMIT_AS (the soft limit, read afresh at every sample, so a limit set
 *    with prlimit on the running process counts) against the address space
 *    in use (VmSize): refusing starts when less than GW_MEM_AS_MISS_RESERVE
 *    is left for misses, GW_MEM_AS_CONN_RESERVE for connections.
 *  - [server] max_memory, or when it is 0 three quarters of the cgroup's
 *    memory limit (memory.max, or memory.limit_in_bytes under cgroup v1),
 *    against anonymous resident memory (the heap and stacks; the index's
 *    file pages are the kernel's to drop): misses are refused above 7/8 of
 *    it, connections above 15/16.
 * Both states clear with hysteresis (below 13/16 of max_memory, or with
 * GW_MEM_AS_CLEAR_RESERVE of address space left), so a gateway at the edge
 * does not flap.  With neither limit set, nothing is ever refused.
 *
 * Usage is sampled at most every GW_MEM_SAMPLE_MS by whichever thread asks
 * (a read of /proc/self/statm), so the check is cheap on the hot path and
 * needs no handle of its own.  While refusing, free heap pages go back to
 * the kernel from the cache upkeep (gw_memguard_trim).  Thread-safe.
 */
#ifndef GW_MEMGUARD_H
#define GW_MEMGUARD_H

#include <stdint.h>

#define GW_MEM_SAMPLE_MS 50
#define GW_MEM_TRIM_MS 1000
#define GW_MEM_AS_MISS_RESERVE (16u << 20)
#define GW_MEM_AS_CONN_RESERVE (8u << 20)
#define GW_MEM_AS_CLEAR_RESERVE (24u << 20)

/* What a client refused for memory is told (with Retry-After). */
#define GW_OUT_OF_MEMORY_REASON "out of memory; try again"

enum gw_mem_level {
    GW_MEM_OK,          /* take everything */
    GW_MEM_NO_MISSES,   /* serve hits; refuse what needs a new fetch */
    GW_MEM_NO_CONNS,    /* also refuse new connections */
};

/*
 * Sets the resident budget: max_memory bytes, or 0 to take it from the
 * cgroup's limit (none: no resident budget).  Before any worker starts.
 */
void gw_memguard_init(uint64_t max_memory);

/* The current level (sampling again if the last sample is old). */
enum gw_mem_level gw_memguard_level(void);

/*
 * While refusing, hands the heap pages freed since the last time back to
 * the kernel (malloc_trim), at most every GW_MEM_TRIM_MS, so that usage can
 * drop below the line again: glibc keeps free pages inside its arenas
 * otherwise.  For the cache upkeep, off the loop.  Not done in the normal
 * state: the arenas' footprint is bounded by the peak of the load (the
 * soak measures it flat once warm), and trimming would cost each arena's
 * lock for the walk, to be paid back by page faults.
 */
void gw_memguard_trim(void);

/* The resident budget in force (0: none), for /metrics and the log. */
uint64_t gw_memguard_budget(void);

/*
 * The level for one sample, exposed for the unit tests: as_limit and
 * as_used (0 as_limit: no RLIMIT_AS), budget and anon (0 budget: none),
 * was the level before (for hysteresis).
 */
enum gw_mem_level gw_memguard_judge(uint64_t as_limit, uint64_t as_used, uint64_t budget,
                                    uint64_t anon, enum gw_mem_level was);

/* The cgroup memory limit of the process (0: none), read from under root
 * (normally "/sys/fs/cgroup") with self_cgroup the text of /proc/self/cgroup. */
uint64_t gw_memguard_cgroup_limit(const char *root, const char *self_cgroup);

#endif

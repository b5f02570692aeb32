/*
 * test_memguard.c - the memory watermarks: the level for each address
 * space and resident figure around the thresholds, the hysteresis on the
 * way down, the cgroup limit found in a v1 or v2 hierarchy (on the cgroup
 * or any parent), and the live check following an RLIMIT_AS set on the
 * running process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memguard.h"
#include "unit.h"
#include "util.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

START_TEST(no_limit_takes_everything)
{
    ck_assert_int_eq(gw_memguard_judge(0, 100 * GiB, 0, 100 * GiB, GW_MEM_NO_CONNS), GW_MEM_OK);
}
END_TEST

START_TEST(address_space_reserves)
{
    const uint64_t lim = 2 * GiB;
    ck_assert_int_eq(gw_memguard_judge(lim, lim - 17 * MiB, 0, 0, GW_MEM_OK), GW_MEM_OK);
    ck_assert_int_eq(gw_memguard_judge(lim, lim - 15 * MiB, 0, 0, GW_MEM_OK), GW_MEM_NO_MISSES);
    ck_assert_int_eq(gw_memguard_judge(lim, lim - 7 * MiB, 0, 0, GW_MEM_OK), GW_MEM_NO_CONNS);
    /* Past the limit already (it was lowered under the process). */
    ck_assert_int_eq(gw_memguard_judge(lim, lim + GiB, 0, 0, GW_MEM_OK), GW_MEM_NO_CONNS);
    /* On the way down: refusing misses until 24 MiB are free again. */
    ck_assert_int_eq(gw_memguard_judge(lim, lim - 20 * MiB, 0, 0, GW_MEM_NO_CONNS),
                     GW_MEM_NO_MISSES);
    ck_assert_int_eq(gw_memguard_judge(lim, lim - 20 * MiB, 0, 0, GW_MEM_NO_MISSES),
                     GW_MEM_NO_MISSES);
    ck_assert_int_eq(gw_memguard_judge(lim, lim - 20 * MiB, 0, 0, GW_MEM_OK), GW_MEM_OK);
    ck_assert_int_eq(gw_memguard_judge(lim, lim - 25 * MiB, 0, 0, GW_MEM_NO_MISSES), GW_MEM_OK);
}
END_TEST

START_TEST(resident_budget_fractions)
{
    const uint64_t max = 1600 * MiB; /* 1/16 is 100 MiB */
    ck_assert_int_eq(gw_memguard_judge(0, 0, max, 1399 * MiB, GW_MEM_OK), GW_MEM_OK);
    ck_assert_int_eq(gw_memguard_judge(0, 0, max, 1400 * MiB, GW_MEM_OK), GW_MEM_NO_MISSES);
    ck_assert_int_eq(gw_memguard_judge(0, 0, max, 1500 * MiB, GW_MEM_OK), GW_MEM_NO_CONNS);
    ck_assert_int_eq(gw_memguard_judge(0, 0, max, 3000 * MiB, GW_MEM_OK), GW_MEM_NO_CONNS);
    ck_assert_int_eq(gw_memguard_judge(0, 0, max, 1350 * MiB, GW_MEM_NO_CONNS), GW_MEM_NO_MISSES);
    ck_assert_int_eq(gw_memguard_judge(0, 0, max, 1350 * MiB, GW_MEM_OK), GW_MEM_OK);
    ck_assert_int_eq(gw_memguard_judge(0, 0, max, 1299 * MiB, GW_MEM_NO_MISSES), GW_MEM_OK);
}
END_TEST

START_TEST(the_worse_of_both)
{
    ck_assert_int_eq(gw_memguard_judge(GiB, GiB - 4 * MiB, GiB, MiB, GW_MEM_OK), GW_MEM_NO_CONNS);
    ck_assert_int_eq(gw_memguard_judge(GiB, MiB, 1600 * MiB, 1450 * MiB, GW_MEM_OK),
                     GW_MEM_NO_MISSES);
}
END_TEST

static void put(const char *root, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void remove_tree(const char *root)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(cgroup_v2_limit_of_a_parent)
{
    char root[] = "/tmp/memguard-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    put(root, "svc/gw/memory.max", "max\n");
    put(root, "svc/memory.max", "1073741824\n");
    ck_assert_uint_eq(gw_memguard_cgroup_limit(root, "0::/svc/gw\n"), GiB);
    put(root, "svc/gw/memory.max", "536870912\n");
    ck_assert_uint_eq(gw_memguard_cgroup_limit(root, "0::/svc/gw\n"), GiB / 2);
    put(root, "svc/gw/memory.max", "max\n");
    put(root, "svc/memory.max", "max\n");
    ck_assert_uint_eq(gw_memguard_cgroup_limit(root, "0::/svc/gw\n"), 0);
    ck_assert_uint_eq(gw_memguard_cgroup_limit(root, "0::/\n"), 0);
    remove_tree(root);
}
END_TEST

START_TEST(cgroup_v1_limit)
{
    char root[] = "/tmp/memguard-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    const char *self = "9:name=systemd:/\n8:pids:/\n4:memory:/api/x\n0::/\n";
    put(root, "memory/api/x/memory.limit_in_bytes", "9223372036854771712\n");
    ck_assert_uint_eq(gw_memguard_cgroup_limit(root, self), 0);
    put(root, "memory/api/x/memory.limit_in_bytes", "268435456\n");
    ck_assert_uint_eq(gw_memguard_cgroup_limit(root, self), 256 * MiB);
    /* A line that is not "id:controllers:path" is passed over. */
    ck_assert_uint_eq(gw_memguard_cgroup_limit(root, "garbage\n4:memory:/api/x"), 256 * MiB);
    ck_assert_uint_eq(gw_memguard_cgroup_limit(root, ""), 0);
    remove_tree(root);
}
END_TEST

static uint64_t vm_size(void)
{
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%llu", &pages), 1);
    fclose(f);
    return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The live check reads the soft RLIMIT_AS afresh, as prlimit sets it. */
START_TEST(follows_rlimit_as_of_the_process)
{
    gw_memguard_init(1); /* a budget of one byte: the resident side refuses too */
    ck_assert_int_eq(gw_memguard_level(), GW_MEM_NO_CONNS);
    gw_memguard_init(0);
    struct rlimit old;
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
    if (gw_memguard_budget() != 0 || old.rlim_cur != RLIM_INFINITY) return; /* limited here */
    ck_assert_int_eq(gw_memguard_level(), GW_MEM_OK);
    struct rlimit tight = {vm_size() + 12 * MiB, old.rlim_max};
    usleep((GW_MEM_SAMPLE_MS + 10) * 1000);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &tight), 0);
    enum gw_mem_level seen = gw_memguard_level();
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
    ck_assert_int_eq(seen, GW_MEM_NO_MISSES);
    /* Within the sample period the verdict stands; after it, it is lifted. */
    ck_assert_int_eq(gw_memguard_level(), GW_MEM_NO_MISSES);
    usleep((GW_MEM_SAMPLE_MS + 10) * 1000);
    ck_assert_int_eq(gw_memguard_level(), GW_MEM_OK);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("memguard");
    TCase *t = tcase_create("memguard");
    tcase_set_timeout(t, 30);
    tcase_add_test(t, no_limit_takes_everything);
    tcase_add_test(t, address_space_reserves);
    tcase_add_test(t, resident_budget_fractions);
    tcase_add_test(t, the_worse_of_both);
    tcase_add_test(t, cgroup_v2_limit_of_a_parent);
    tcase_add_test(t, cgroup_v1_limit);
    tcase_add_test(t, follows_rlimit_as_of_the_process);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return unit_run(suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

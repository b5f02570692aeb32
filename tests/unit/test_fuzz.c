/*
 * test_fuzz.c - replays the seed corpus of every fuzz target as ordinary
 * tests: each file of tests/fuzz/<target>/ goes through that target's
 * verdict function (tests/fuzz/fuzz.h; the Makefile links the targets in),
 * built with the normal compiler, one Check test per file, so a crash or a
 * broken invariant fails that file's test.
 *
 * Each file is named "VERDICT-shape" (tests/fuzz/seeds.py writes them): its
 * test fails unless the target's verdict on the bytes is exactly VERDICT,
 * so a change in what any parser accepts or refuses shows here.  Each
 * target's directory must hold at least its number of seeds, so that a
 * corpus lost on the way is seen.
 *
 * FUZZ_TARGET=<name> FUZZ_CORPUS=<dir> replays another corpus (libFuzzer's,
 * named by hashes) through one target: a file without a '-' in its name
 * is checked for the invariants only.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz.h"
#include "unit.h"
#include "util.h"

typedef int (*verdict_fn)(const uint8_t *, size_t, char *, size_t);

static const struct target {
    const char *name;
    verdict_fn fn;
    int seeds; /* files of tests/fuzz/seeds.py for it */
} targets[] = {
    {"http", fuzz_http_verdict, 54},  {"cond", fuzz_cond_verdict, 48},
    {"slo", fuzz_slo_verdict, 44},    {"dlo", fuzz_dlo_verdict, 29},
    {"plan", fuzz_plan_verdict, 28},  {"conf", fuzz_conf_verdict, 33},
    {"proxy", fuzz_proxy_verdict, 32},
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

#define MAX_FILES 8192

static struct file {
    const struct target *t;
    char *dir;
    char *name;
} files[MAX_FILES];
static int nfiles;
static int own_corpus = 1; /* the repository's, not $FUZZ_CORPUS */
static int counts[NTARGETS];
static int selected[NTARGETS];

static int by_name(const void *a, const void *b)
{
    const struct file *x = a, *y = b;
    int c = strcmp(x->t->name, y->t->name);
    return c ? c : strcmp(x->name, y->name);
}

static void list_dir(const struct target *t, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    while (nfiles < MAX_FILES && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        files[nfiles].t = t;
        files[nfiles].dir = gw_strdup(dir);
        files[nfiles].name = gw_strdup(e->d_name);
        nfiles++;
        counts[t - targets]++;
    }
    closedir(d);
}

START_TEST(test_corpus_present)
{
    const struct target *t = &targets[_i];
    int want = own_corpus && selected[_i] ? t->seeds : 0;
    ck_assert_msg(counts[_i] >= want, "%s: %d corpus files, want at least %d", t->name,
                  counts[_i], want);
}
END_TEST

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    static uint8_t buf[1 << 20];
    *n = fread(buf, 1, sizeof(buf), f);
    ck_assert_msg(!ferror(f) && feof(f), "%s: read error or over 1 MiB", path);
    fclose(f);
    /* A copy of exactly n bytes, so that ASan sees any read past the end. */
    uint8_t *copy = gw_malloc(*n ? *n : 1);
    memcpy(copy, buf, *n);
    return copy;
}

START_TEST(test_replay)
{
    const struct file *f = &files[_i];
    char path[2048], verdict[512];
    snprintf(path, sizeof(path), "%s/%s", f->dir, f->name);
    size_t n;
    uint8_t *data = read_all(path, &n);
    int len = f->t->fn(data, n, verdict, sizeof(verdict));
    free(data);

    const char *dash = strchr(f->name, '-');
    if (dash == NULL && !own_corpus) return; /* no verdict to check */
    ck_assert_msg(dash != NULL && dash > f->name && dash[1] != '\0',
                  "%s: the name does not start with a verdict (want VERDICT-shape; the "
                  "target says %s)", path, verdict);
    ck_assert_msg(len >= 0, "%s: verdict too long: %s...", path, verdict);
    size_t want_len = (size_t)(dash - f->name);
    ck_assert_msg((size_t)len == want_len && memcmp(verdict, f->name, want_len) == 0,
                  "%s: verdict %s, want %.*s", path, verdict, (int)want_len, f->name);
}
END_TEST

int main(void)
{
    const char *only = getenv("FUZZ_TARGET"), *corpus = getenv("FUZZ_CORPUS");
    if (corpus != NULL && only == NULL) {
        fprintf(stderr, "test_fuzz: FUZZ_CORPUS needs FUZZ_TARGET (http, cond, slo...)\n");
        return 2;
    }
    if (corpus != NULL) own_corpus = 0;
    for (size_t i = 0; i < NTARGETS; i++) {
        if (only != NULL && strcmp(only, targets[i].name) != 0) continue;
        selected[i] = 1;
        char dir[512];
        snprintf(dir, sizeof(dir), "tests/fuzz/%s", targets[i].name);
        list_dir(&targets[i], corpus != NULL ? corpus : dir);
    }
    qsort(files, (size_t)nfiles, sizeof(files[0]), by_name);
    Suite *s = suite_create("fuzz");
    TCase *tc = tcase_create("corpus");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_corpus_present, 0, (int)NTARGETS);
    tcase_add_loop_test(tc, test_replay, 0, nfiles);
    suite_add_tcase(s, tc);
    int failed = unit_run(s);
    for (int i = 0; i < nfiles; i++) {
        free(files[i].dir);
        free(files[i].name);
    }
    return failed == 0 ? 0 : 1;
}

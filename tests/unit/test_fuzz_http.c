/*
 * test_fuzz_http.c - replays the HTTP fuzz corpus as ordinary tests: every
 * file of tests/fuzz/corpus (or $FUZZ_CORPUS) goes through the fuzz
 * target, tests/fuzz/fuzz_http.c, which the Makefile links in, built with
 * the normal compiler: one Check test per file, so a crash or a broken
 * invariant fails that file's test.
 *
 * Each file of the repository's corpus is named "VERDICT-shape" (see
 * tests/fuzz/fuzz_http.h and tests/fuzz/seeds.py): its test fails unless
 * the target's verdict on the bytes is exactly VERDICT, so a change in how
 * the gateway parses, routes or rejects any of them shows here.  In another
 * corpus ($FUZZ_CORPUS, e.g. libFuzzer's, named by hashes) a file without a
 * '-' in its name is checked for the invariants only.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "unit.h"

#include "../fuzz/fuzz_http.h"
#include "util.h"

#define MAX_FILES 4096
#define CORPUS_FILES 54 /* the seeds of tests/fuzz/seeds.py */

static const char *corpus_dir;
static int own_corpus; /* tests/fuzz/corpus, not $FUZZ_CORPUS */
static char *files[MAX_FILES];
static int nfiles;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_corpus(void)
{
    DIR *d = opendir(corpus_dir);
    if (d == NULL) return;
    struct dirent *e;
    while (nfiles < MAX_FILES && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        files[nfiles++] = gw_strdup(e->d_name);
    }
    closedir(d);
    qsort(files, (size_t)nfiles, sizeof(files[0]), by_name);
}

START_TEST(test_corpus_present)
{
    int want = own_corpus ? CORPUS_FILES : 1;
    ck_assert_msg(nfiles >= want, "%s: %d files, want at least %d", corpus_dir, nfiles, want);
}
END_TEST

START_TEST(test_replay)
{
    const char *name = files[_i];
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", corpus_dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    ck_assert_msg(!ferror(f), "%s: read error", path);
    fclose(f);
    /* A copy of exactly n bytes, so that ASan sees any read past the end. */
    uint8_t *copy = gw_malloc(n ? n : 1);
    memcpy(copy, buf, n);
    char verdict[512];
    int len = fuzz_http_verdict(copy, n, verdict, sizeof(verdict));
    free(copy);

    const char *dash = strchr(name, '-');
    if (dash == NULL && !own_corpus) return; /* no verdict to check */
    ck_assert_msg(dash != NULL && dash > name && dash[1] != '\0',
                  "%s: the name does not start with a verdict (want VERDICT-shape; the "
                  "target says %s)", path, verdict);
    ck_assert_msg(len >= 0, "%s: verdict too long: %s...", path, verdict);
    size_t want_len = (size_t)(dash - name);
    ck_assert_msg((size_t)len == want_len && memcmp(verdict, name, want_len) == 0,
                  "%s: verdict %s, want %.*s", path, verdict, (int)want_len, name);
}
END_TEST

int main(void)
{
    corpus_dir = getenv("FUZZ_CORPUS");
    own_corpus = corpus_dir == NULL;
    if (corpus_dir == NULL) corpus_dir = "tests/fuzz/corpus";
    list_corpus();
    Suite *s = suite_create("fuzz_http");
    TCase *tc = tcase_create("corpus");
    tcase_add_test(tc, test_corpus_present);
    tcase_add_loop_test(tc, test_replay, 0, nfiles);
    suite_add_tcase(s, tc);
    int failed = unit_run(s);
    for (int i = 0; i < nfiles; i++) free(files[i]);
    return failed == 0 ? 0 : 1;
}

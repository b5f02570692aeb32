/*
 * test_fuzz_http.c - replays the HTTP fuzz corpus as ordinary tests: every
 * file of tests/fuzz/corpus (or $FUZZ_CORPUS) goes through the fuzz
 * target's entry point, tests/fuzz/fuzz_http.c, which the Makefile links
 * in, built with the normal compiler: one Check test per file, so a crash
 * or a broken invariant fails that file's test.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "unit.h"

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FILES 4096

static const char *corpus_dir;
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
    ck_assert_msg(nfiles >= 20, "%s: %d files, want at least 20", corpus_dir, nfiles);
}
END_TEST

START_TEST(test_replay)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", corpus_dir, files[_i]);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    ck_assert_msg(!ferror(f), "%s: read error", path);
    fclose(f);
    /* A copy of exactly n bytes, so that ASan sees any read past the end. */
    uint8_t *copy = gw_malloc(n ? n : 1);
    memcpy(copy, buf, n);
    ck_assert_int_eq(LLVMFuzzerTestOneInput(copy, n), 0);
    free(copy);
}
END_TEST

int main(void)
{
    corpus_dir = getenv("FUZZ_CORPUS");
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

/*
 * unit.h - what every Check test program of swiftgate shares.
 */
#ifndef GW_UNIT_H
#define GW_UNIT_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Run the suite, each test in its own process, Check's summary on stdout;
 * the number of failed tests. */
static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

/* Unset every SWIFTGATE_* variable: the caller's would change what a
 * configuration test sees. */
static inline void unit_clear_swiftgate_env(void)
{
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e != NULL; e++) {
            const char *eq = strchr(*e, '=');
            if (strncmp(*e, "SWIFTGATE_", 10) == 0 && eq != NULL &&
                (size_t)(eq - *e) < sizeof(name)) {
                memcpy(name, *e, (size_t)(eq - *e));
                name[eq - *e] = '\0';
                break;
            }
        }
        if (name[0] == '\0') return;
        unsetenv(name);
    }
}

static inline int unit_remove_entry(const char *path, const struct stat *st, int type,
                                    struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/*
 * unit_run() with a fresh directory, $TMPDIR/NAME-XXXXXX (or under /tmp),
 * whose path is left in dir (len bytes) for the tests, and which is removed
 * with all it holds afterwards.  2 when it cannot be made.
 */
static inline int unit_run_in_tmpdir(Suite *s, const char *name, char *dir, size_t len)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, len, "%s/%s-XXXXXX", base != NULL ? base : "/tmp", name);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    int failed = unit_run(s);
    nftw(dir, unit_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed == 0 ? 0 : 1;
}

#endif

/*
 * unit.h - what every Check test program of swiftgate shares.
 */
#ifndef GW_UNIT_H
#define GW_UNIT_H

#include <check.h>

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

#endif

/*
 * fuzz.h - the libFuzzer targets of swiftgate and what they share with the
 * corpus replay (tests/unit/test_fuzz.c).
 *
 * Each target is one function, fuzz_<name>_verdict(), that feeds the bytes
 * through one parser of the gateway, abort()s when an invariant breaks (so
 * libFuzzer reports a crash, and the replay a failed test) and writes its
 * verdict on the input: a few words joined by '.', none holding a '-'.
 * entry.c turns one of them into LLVMFuzzerTestOneInput; the replay runs
 * all of them without libFuzzer.  Each target's seed corpus is in
 * tests/fuzz/<name>/, written by tests/fuzz/seeds.py, every file named
 * "VERDICT-shape": the replay fails unless the target's verdict on its
 * bytes is exactly VERDICT.
 *
 * Every verdict function has the contract of fuzz_http_verdict()
 * (fuzz_http.h): data is only read, out gets the NUL-terminated verdict
 * (cut short to len - 1 bytes), and the return value is its length, or -1
 * if it did not fit.
 */
#ifndef GW_FUZZ_H
#define GW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_http.h"

struct gw_plan;

#define FZ_CHECK(cond)                                                                \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s: invariant broken: %s (line %d)\n", __FILE__, #cond,  \
                    __LINE__);                                                        \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* fuzz_cond.c: request fields -> preconditions and ranges (cond.h). */
int fuzz_cond_verdict(const uint8_t *data, size_t size, char *out, size_t len);
/* fuzz_slo.c: an SLO manifest -> a plan (gw_slo_parse). */
int fuzz_slo_verdict(const uint8_t *data, size_t size, char *out, size_t len);
/* fuzz_dlo.c: X-Object-Manifest and listing pages -> a plan (dlo.c). */
int fuzz_dlo_verdict(const uint8_t *data, size_t size, char *out, size_t len);
/* fuzz_plan.c: bytes -> gw_plan_decode -> gw_plan_encode. */
int fuzz_plan_verdict(const uint8_t *data, size_t size, char *out, size_t len);
/* fuzz_conf.c: an INI file -> gw_conf_load. */
int fuzz_conf_verdict(const uint8_t *data, size_t size, char *out, size_t len);
/* fuzz_proxy.c: a connection's first bytes -> gw_proxy_parse. */
int fuzz_proxy_verdict(const uint8_t *data, size_t size, char *out, size_t len);

/*
 * plancheck.c: abort() unless p, a finished plan (SLO, or DLO after
 * gw_dlo_finish), keeps every invariant manifest.h and plan.c state;
 * decode(encode(p)) equals p field by field and re-encodes to the same
 * bytes, p->bytes is the encoded length, and gw_plan_cover() maps a few
 * ranges picked from seed onto segments exactly.
 */
void fz_plan_check(const struct gw_plan *p, uint64_t seed);

/* Two plans are equal in every field a plan carries (limits and capacity
 * aside). */
int fz_plan_equal(const struct gw_plan *a, const struct gw_plan *b);

/* Write "w1.w2..." into out as the targets do: snprintf's return rules. */
int fz_verdict(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

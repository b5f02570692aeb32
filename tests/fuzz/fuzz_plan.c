/*
 * fuzz_plan.c - libFuzzer target: bytes through gw_plan_decode(), the
 * reader of a large object's plan kept in its manifest's cache entry.
 *
 * A byte form ends with the MD5 of what comes before it, which random
 * bytes never match, so each input is decoded twice: as it is, and sealed
 * (its MD5 appended), which lets the fuzzer reach every check behind the
 * checksum.  The verdict is the sealed decode's.
 *
 * The property (of both decodes): gw_plan_decode() either refuses, leaving
 * the plan zeroed, or gives a plan that gw_plan_encode() turns back into
 * exactly the bytes decoded: the byte form is canonical, a plan has one
 * encoding and an encoding one plan.  With fz_plan_check() (plancheck.c),
 * which checks decode(encode(p)) == p, the round trip is exact both ways.
 *
 * Verdict (fuzz.h): "ok" or "bad".
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "manifest.h"
#include "util.h"

/* Decode n bytes at buf; 1 if a plan came out (and was checked). */
static int decode(const unsigned char *buf, size_t n)
{
    struct gw_plan p;
    if (gw_plan_decode(buf, n, &p) != 0) {
        FZ_CHECK(p.kind == GW_PLAN_NONE && p.n == 0 && p.seg == NULL && p.total == 0);
        return 0;
    }
    unsigned char *again;
    size_t len;
    FZ_CHECK(gw_plan_encode(&p, &again, &len) == 0);
    FZ_CHECK(len == n && memcmp(again, buf, n) == 0);
    free(again);
    uint64_t seed = 0;
    for (size_t i = 0; i < 8 && i < n; i++) seed = seed << 8 | buf[n - 1 - i];
    fz_plan_check(&p, seed);
    gw_plan_free(&p);
    return 1;
}

int fuzz_plan_verdict(const uint8_t *data, size_t size, char *out, size_t len)
{
    /* Exactly-sized heap copies, so that ASan sees a read past the end. */
    unsigned char *raw = gw_malloc(size ? size : 1);
    if (size) memcpy(raw, data, size);
    decode(raw, size);
    free(raw);

    unsigned char *sealed = gw_malloc(size + 16);
    unsigned int dn = 0;
    if (size) memcpy(sealed, data, size);
    FZ_CHECK(EVP_Digest(data, size, sealed + size, &dn, EVP_md5(), NULL) == 1 && dn == 16);
    int ok = decode(sealed, size + 16);
    free(sealed);
    return fz_verdict(out, len, "%s", ok ? "ok" : "bad");
}

/*
 * entry.c - the libFuzzer entry point of one target: the Makefile compiles
 * it once per target with -DFUZZ_VERDICT=fuzz_<name>_verdict (fuzz.h), so
 * the fuzzer runs exactly the function the corpus replay checks.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

#ifndef FUZZ_VERDICT
#error "compile with -DFUZZ_VERDICT=fuzz_<name>_verdict"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char verdict[512];
    FUZZ_VERDICT(data, size, verdict, sizeof(verdict));
    return 0;
}

/* The one entry point every fuzz target defines. libFuzzer calls it in a build with FMR_FUZZ=ON;
 * replay.c calls it over committed inputs in every other build, so a crash found once stays a
 * test. It must not keep state between calls (beyond what HDF5 keeps for itself). */
#ifndef FMR_FUZZ_H
#define FMR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

#!/usr/bin/env bash
# The README's test command: install dependencies, build, run every test (it.slurm submits real
# Slurm jobs to a one-node cluster it starts and stops itself); fuzz every parser for a bounded time
# (libFuzzer, clang-14, ASan + UBSan); then build again with AddressSanitizer +
# UndefinedBehaviorSanitizer and run the unit and end-to-end tests under them.
#   scripts/test.sh            everything
#   scripts/test.sh --no-install   skip apt-get (dependencies already present)
#   scripts/test.sh --asan-all     every integration test under the sanitizers too (slow)
#   scripts/test.sh --no-fuzz      skip the fuzzing stage (scripts/fuzz.sh runs it for longer)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
install=1
fuzz=1
asan_filter=(-R '^(unit\.|it\.(pipeline|recon_oracle|synth|annotations_real)$)')
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    --asan-all) asan_filter=() ;;
    --no-fuzz) fuzz=0 ;;
    *) echo "test.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done
if [ "$install" -eq 1 ]; then bash "$here/scripts/install-deps.sh" --test; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jobs=$(nproc)

BUILD_DIR="$here/build" bash "$here/scripts/build.sh"
ctest --test-dir "$here/build" --output-on-failure -j"$jobs"

# Fuzzing: each libFuzzer target (config, annotation CSV, file list, ISMRMRD header, HDF5 reader)
# runs 45 s from its committed seeds, two at a time; any crash, leak or UBSan report fails.
if [ "$fuzz" -eq 1 ]; then
  CC=clang-14 CXX=clang++-14 cmake -S "$here" -B "$here/build-fuzz" -DFMR_FUZZ=ON -DFMR_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$here/build-fuzz" -j"$jobs" >/dev/null
  ctest --test-dir "$here/build-fuzz" -L fuzz --output-on-failure -j2
fi

# Sanitizers: AddressSanitizer + UndefinedBehaviorSanitizer, leak checking included, over every unit
# test and the integration tests that drive every module end to end (pipeline under 1-16 ranks,
# recon oracle, synth, the real CSVs). The remaining integration tests repeat those code paths
# many times over and would triple the suite's time under the sanitizers; scripts/test.sh --asan-all
# runs them too. Open MPI allocates once per process and never frees; tests/lsan.supp names only
# its libraries. Slow unwinding lets those suppressions see through frames without pointers.
BUILD_DIR="$here/build-asan" bash "$here/scripts/build.sh" -DFMR_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=1 \
LSAN_OPTIONS=suppressions=$here/tests/lsan.supp:print_suppressions=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$here/build-asan" --output-on-failure -j"$jobs" "${asan_filter[@]}"

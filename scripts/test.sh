#!/usr/bin/env bash
# The README's test command: install dependencies, build, run every test; then build again with
# AddressSanitizer + UndefinedBehaviorSanitizer and run the unit tests and the serial pipeline
# tests under them.
#   scripts/test.sh            everything
#   scripts/test.sh --no-install   skip apt-get (dependencies already present)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
install=1
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    *) echo "test.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done
if [ "$install" -eq 1 ]; then bash "$here/scripts/install-deps.sh" --test --slurm; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jobs=$(nproc)

BUILD_DIR="$here/build" bash "$here/scripts/build.sh"
ctest --test-dir "$here/build" --output-on-failure -j"$jobs"

# Sanitizers: Open MPI's own allocations are not ours to fix, so leak checking is limited to the
# unit tests, which never initialise MPI.
BUILD_DIR="$here/build-asan" bash "$here/scripts/build.sh" -DFMR_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$here/build-asan" --output-on-failure -j"$jobs" -L unit

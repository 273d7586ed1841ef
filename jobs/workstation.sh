#!/usr/bin/env bash
# Run fastmri-regen on every local core: jobs/workstation.sh CONFIG.yaml [extra run options]
# NP overrides the rank count. SIGTERM/SIGINT/SIGUSR1 reach every rank: finished volumes are kept,
# the manifest is written, and the same command resumes.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${FMR_BIN:-$here/build/fastmri-regen}
[ $# -ge 1 ] || { echo "usage: $0 CONFIG.yaml [run options]" >&2; exit 2; }
np=${NP:-$(nproc)}
extra=()
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [ "$np" -gt "$(nproc)" ]; then extra+=(--oversubscribe); fi
exec mpirun "${extra[@]}" -np "$np" "$bin" run "$@"

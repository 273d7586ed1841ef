#!/usr/bin/env bash
# Run fastmri-regen on every local core: jobs/workstation.sh CONFIG.yaml [extra run options]
# Rank 0 only hands out work and sleeps between messages, so the default is one rank more than
# there are cores (every core keeps a worker busy); NP overrides the rank count.
# To stop cleanly, send SIGUSR1 to mpirun: it forwards it to every rank, volumes in flight finish,
# the manifest is written, and the same command resumes. (SIGTERM to mpirun makes Open MPI kill the
# ranks after a second; the rerun still resumes, minus the volumes that were in flight.)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${FMR_BIN:-$here/build/fastmri-regen}
[ $# -ge 1 ] || { echo "usage: $0 CONFIG.yaml [run options]" >&2; exit 2; }
np=${NP:-$(($(nproc) + 1))}
extra=()
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [ "$np" -gt "$(nproc)" ]; then extra+=(--oversubscribe); fi
exec mpirun "${extra[@]}" -np "$np" "$bin" run "$@"

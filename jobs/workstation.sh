#!/usr/bin/env bash
# fastmri-regen on every core of this machine: jobs/workstation.sh [run options] CONFIG.yaml
# What to edit: nothing. NP=<ranks> overrides the rank count (default: one per core, `nproc`; every
# rank reconstructs volumes). FMR_BIN=/path/to/fastmri-regen if it is neither on PATH (after
# `cmake --install build --prefix ~/.local`) nor in ../build next to this script.
#
# Stopping: Ctrl-C, or `kill <pid of this script>` (SIGTERM), drains the run: every rank finishes the
# volume in hand, the manifest of what is done is written ("complete": false) and the script exits 3;
# the same command resumes. How: Open MPI 4.1's mpirun turns its own SIGINT/SIGTERM into an abort
# (SIGTERM to the ranks, SIGKILL a second later), but forwards SIGUSR1 to every rank. So mpirun runs
# in its own session (a terminal's Ctrl-C reaches only this script) and the script sends it SIGUSR1.
# `kill` of mpirun itself still aborts; the ranks are given FMR_MPIRUN_KILL_TIMEOUT seconds (default
# 30, Open MPI's odls_base_sigkill_timeout) to drain, and the script reports that as interrupted (3)
# when the manifest says so. Exit status: that of `fastmri-regen run` (README "Exit status").
set -uo pipefail
say() { echo "workstation.sh: $*" >&2; }
[ $# -ge 1 ] || { echo "usage: $0 [run options] CONFIG.yaml" >&2; exit 2; }
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
if [ -n "${FMR_BIN:-}" ]; then bin=$FMR_BIN
elif command -v fastmri-regen >/dev/null; then bin=$(command -v fastmri-regen)
else bin=$here/../build/fastmri-regen
fi
[ -x "$bin" ] || { say "fastmri-regen not found ($bin): install it or set FMR_BIN"; exit 2; }
np=${NP:-$(nproc)}
extra=()
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_odls_base_sigkill_timeout=${FMR_MPIRUN_KILL_TIMEOUT:-30}
if [ "$np" -gt "$(nproc)" ]; then extra+=(--oversubscribe); fi
start=$(date +%s)
setsid mpirun "${extra[@]}" -np "$np" "$bin" run "$@" &
step=$!
signalled=""
forward() { signalled=$1; say "$1: draining the run (the same command resumes)"; kill -USR1 "$step" 2>/dev/null || true; }
trap 'forward SIGINT' INT
trap 'forward SIGTERM' TERM
status=0
wait "$step" || status=$?
while kill -0 "$step" 2>/dev/null; do status=0; wait "$step" || status=$?; done

if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then
  # mpirun's own status after an abort is 1: the manifest this run wrote says whether it drained.
  config=${!#}
  out=$(awk '/^[^ #]/ { o = ($0 ~ /^output:[ \t]*(#.*)?$/); next }
             o && /^[ \t]+dir:/ { sub(/^[ \t]+dir:[ \t]*/, ""); sub(/[ \t]+#.*$/, ""); print; exit }' \
        "$config" 2>/dev/null)
  case "$out" in "") ;; /*) ;; *) out=$(cd "$(dirname "$config")" && pwd)/$out ;; esac
  m=$out/manifest.json
  if [ -n "$out" ] && [ -f "$m" ] && [ "$(stat -c %Y "$m")" -ge "$start" ] &&
     grep -Eq '"complete": *false' "$m"; then
    say "mpirun exited $status after a stop (${signalled:-mpirun was signalled}); the manifest says" \
        "incomplete: exit 3, rerun to resume"
    status=3
  fi
fi
exit "$status"

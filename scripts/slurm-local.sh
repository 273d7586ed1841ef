#!/usr/bin/env bash
# A real one-node Slurm (munged + slurmctld + slurmd) in a temporary directory, for the jobs/ tests
# and for trying the job scripts on a workstation (root only: slurmd runs jobs as their owners).
#   eval "$(scripts/slurm-local.sh start)"   start (or reuse) it; prints `export SLURM_CONF=...`
#   scripts/slurm-local.sh status            daemons and sinfo; exit 0 running, 1 not
#   scripts/slurm-local.sh stop              kill the daemons by pid and remove the directory
# Everything lives in $FMR_SLURM_DIR (default ${TMPDIR:-/tmp}/fmr-slurm-local): its own munge socket
# (AuthInfo=socket=...), so a site's munged is never touched; ports from FMR_SLURM_PORT (default
# 6817, slurmd uses +1). start and stop are idempotent; a failed start stops whatever it started.
# Needs the Debian packages slurmctld slurmd slurm-client munge (scripts/install-deps.sh --slurm).
set -euo pipefail

dir=${FMR_SLURM_DIR:-${TMPDIR:-/tmp}/fmr-slurm-local}
port=${FMR_SLURM_PORT:-6817}
conf=$dir/slurm.conf
say() { echo "slurm-local: $*" >&2; }

pid_of() { # pid from a pid file, if that process is alive
  local f=$1 p
  [ -s "$f" ] || return 1
  p=$(cat "$f")
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

running() {
  pid_of "$dir/munged.pid" >/dev/null && pid_of "$dir/slurmctld.pid" >/dev/null &&
    pid_of "$dir/slurmd.pid" >/dev/null
}

stop() {
  local name p i
  for name in slurmd slurmctld munged; do
    p=$(pid_of "$dir/$name.pid") || continue
    kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      say "$name (pid $p) ignored SIGTERM for 5 s: SIGKILL"
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  # slurmstepd processes of jobs still running belong to slurmd's node: end them too (they
  # are ours: their command line names our spool directory's jobs through SLURM_CONF only, so
  # find them by the environment instead of by name).
  for p in $(pgrep -x slurmstepd || true); do
    if tr '\0' '\n' </proc/"$p"/environ 2>/dev/null | grep -qx "SLURM_CONF=$conf"; then
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  # FMR_SLURM_KEEP_LOGS=DIR: the daemons' logs are copied there first (a failed test's evidence).
  if [ -n "${FMR_SLURM_KEEP_LOGS:-}" ]; then
    mkdir -p "$FMR_SLURM_KEEP_LOGS" && cp -r "$dir/log/." "$FMR_SLURM_KEEP_LOGS/" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

start() {
  if running; then
    say "already running in $dir"
    echo "export SLURM_CONF=$conf"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || { say "must run as root (slurmd starts jobs as their owners)"; exit 2; }
  local b
  for b in munged slurmctld slurmd sinfo sbatch; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] ||
      { say "$b not found: install slurmctld slurmd slurm-client munge (scripts/install-deps.sh --slurm)"; exit 2; }
  done
  stop # leftovers of a run that was killed before it could stop
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
  chmod 755 "$dir" # munged runs as munge and must reach its socket directory
  chown munge:munge "$dir/munge"
  chmod 755 "$dir/munge"
  if ! runuser -u munge -- test -w "$dir/munge"; then
    say "user munge cannot reach $dir/munge: every directory above it must be searchable (chmod o+x)"
    stop
    exit 2
  fi
  trap 'say "start failed; stopping"; stop' ERR

  local cpus mem host
  cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  host=$(hostname)
  cat >"$conf" <<EOF
ClusterName=fmrtest
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
KillWait=30
MinJobAge=3600
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
NodeName=localhost NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  # PMIx's per-step client directories go below $dir, not /tmp: they are named by job and step id
  # only (spmix_appdir_<uid>_<job>.<step>), job ids restart at 1 with every fresh controller, and
  # Slurm 22.05 does not always remove them, so a later harness's job 8 found the job 8 directory of
  # an earlier one and its step failed to launch ("Cannot create client cli tmpdir: File exists").
  mkdir -p "$dir/pmix"
  echo "PMIxCliTmpDirBase=$dir/pmix" >"$(dirname "$conf")/mpi.conf"
  runuser -u munge -- /usr/sbin/munged --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed"
  ln -sf "$dir/munge/munged.pid" "$dir/munged.pid"
  munge -n -S "$dir/munge/munge.socket" | unmunge -S "$dir/munge/munge.socket" >/dev/null
  export SLURM_CONF=$conf
  /usr/sbin/slurmctld -f "$conf"
  /usr/sbin/slurmd -f "$conf" -N localhost
  local i state=""
  for i in $(seq 1 60); do
    state=$(sinfo -h -N -o %T 2>/dev/null | head -n1 || true)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    say "node not idle after 30 s (state '$state'); logs in $dir/log"
    false
  fi
  trap - ERR
  say "one node ($cpus CPUs, $mem MB), SLURM_CONF=$conf"
  echo "export SLURM_CONF=$conf"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if running; then
      say "running in $dir"
      SLURM_CONF=$conf sinfo >&2
      echo "export SLURM_CONF=$conf"
    else
      say "not running"
      exit 1
    fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

#!/usr/bin/python3
"""Run a command and record its wall time, CPU time and peak resident set size.

    rss.py OUT_PREFIX -- COMMAND [ARGS...]

Writes OUT_PREFIX.<rank>.json with {"rank", "rc", "wall_s", "user_s", "sys_s", "maxrss_kb",
"machine_busy_s", ...} and exits with the command's status. <rank> comes from OMPI_COMM_WORLD_RANK / PMI_RANK (0 when run
outside mpirun), so `mpirun -np N rss.py PREFIX -- fastmri-regen run ...` gives one file per rank.

Peak RSS is the kernel's ru_maxrss from wait4() (KiB): the same figure as /proc/<pid>/status VmHWM
at exit and as GNU time's %M, but it needs only python3 (a base dependency of the project), not
the `time` package, and it is read after the child exits, which a `bash -c 'cmd; cat /proc/...'`
wrapper cannot do.
"""
import json
import os
import signal
import subprocess
import sys
import time


def busy_seconds():
    """CPU time every CPU of the machine spent not idle (incl. steal), from /proc/stat; None if
    unreadable. Compared with the measured process's own CPU time it tells how much of the machine
    something else used meanwhile: wall-clock figures from a busy machine are inflated."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write("usage: rss.py OUT_PREFIX -- COMMAND [ARGS...]\n")
        return 2
    prefix, cmd = sys.argv[1], sys.argv[3:]
    rank = os.environ.get("OMPI_COMM_WORLD_RANK") or os.environ.get("PMI_RANK") or "0"
    b0 = busy_seconds()
    t0 = time.monotonic()
    child = subprocess.Popen(cmd)
    # Pass the signals mpirun and shells use on to the measured process.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    while True:
        try:
            _, status, ru = os.wait4(child.pid, 0)
            break
        except InterruptedError:
            continue
    wall = time.monotonic() - t0
    b1 = busy_seconds()
    child.returncode = 0  # reaped here; keep Popen from waiting again
    rc = os.waitstatus_to_exitcode(status)
    rec = {"rank": int(rank), "rc": rc, "wall_s": wall, "user_s": ru.ru_utime,
           "sys_s": ru.ru_stime, "maxrss_kb": ru.ru_maxrss,
           "machine_busy_s": b1 - b0 if b0 is not None and b1 is not None else None,
           "nproc": os.cpu_count(), "cmd": cmd}
    with open("%s.%s.json" % (prefix, rank), "w") as f:
        json.dump(rec, f)
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main())

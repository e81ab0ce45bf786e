"""The muster-daemon tool: start the daemon, wait until all hosts are ready
(the connect row), time the warm calls through it, stop it.
"""

import json
import os
import signal
import subprocess
import time

from runbench import common
from runbench.common import CLK_TCK, DAEMON_SOCK, FLEET_DIR, KEY, note, REPO
from runbench.fleet import listener_children, machine_busy, wait_fleet_idle
from runbench.tools import check_run, read_text, show_command, tool_command
from runbench.record import measure, now_iso


def daemon_cpu(pid):
    """CPU seconds the daemon used so far: the sum of its threads' on-CPU time
    (/proc/PID/task/*/schedstat, ns), which has a finer grain than the
    utime+stime ticks of /proc/PID/stat (also recorded, as daemon_stat)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return proc_stat_cpu(pid)
    return total / 1e9


def proc_stat_cpu(pid):
    """utime+stime of a process (all its threads), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0


def vm_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def daemon_env():
    return dict(os.environ, MUSTER_DAEMON_SOCKET=DAEMON_SOCK)


def daemon_status():
    """The daemon's `--status --json`, or None when none answers."""
    try:
        r = subprocess.run([common.MUSTER, "daemon", "--status", "--json"], env=daemon_env(),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line and "X" not in line
    except OSError:
        return False
    return False


def daemon_stop(pid=None):
    """`muster daemon --stop`; SIGTERM (then SIGKILL) to pid, which this
    script started, if it is still there after 10 s."""
    subprocess.run([common.MUSTER, "daemon", "--stop"], env=daemon_env(), stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    if pid is None:
        return
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None and pid_alive(pid):
            note(f"warning: daemon {pid} still there, sending {signal.Signals(sig).name}")
            os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not pid_alive(pid):
            return


def daemon_start(argv, n, timeout, log_base):
    """Start `muster daemon`; wait until --status shows n hosts ready.
    Returns (pid or None, launcher rusage CPU s, wall s to ready, status, why)."""
    t0 = time.monotonic()
    with open(log_base + ".out", "wb") as out, open(log_base + ".err", "wb") as err:
        proc = subprocess.Popen(argv, env=daemon_env(), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, cwd=REPO)
        _, status, ru = os.wait4(proc.pid, 0)
    launch_cpu = ru.ru_utime + ru.ru_stime
    if os.waitstatus_to_exitcode(status) != 0:
        return None, launch_cpu, time.monotonic() - t0, None, \
            f"muster daemon exited {os.waitstatus_to_exitcode(status)}: " + \
            read_text(log_base + ".err")[:150].strip()
    st, pid = None, None
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        st = daemon_status()
        if st is not None:
            pid = st.get("pid")
            ready = sum(1 for h in st.get("hosts", []) if h.get("state") == "ready")
            if ready >= n:
                return pid, launch_cpu, time.monotonic() - t0, st, ""
        time.sleep(0.05)
    hosts = (st or {}).get("hosts", [])
    ready = sum(1 for h in hosts if h.get("state") == "ready")
    bad = next((h for h in hosts if h.get("state") != "ready"), {})
    return pid, launch_cpu, time.monotonic() - t0, st, \
        f"{ready}/{n} ready after {timeout:.0f} s ({bad.get('host')}: {bad.get('state')} " \
        f"{bad.get('error', '')})"


def run_daemon_tool(args, n, job, rep, hosts, fleet, files, stamp, out_dir, rec, progress):
    """muster-daemon: start the daemon on the N hosts (row muster-daemon-connect:
    launch to all N ready), then --warm-calls timed `muster run` through it
    (rows muster-daemon: the CLI's CPU plus the daemon's), then stop it."""
    kh = os.path.join(FLEET_DIR, "known_hosts")
    dargv = [common.MUSTER, "daemon", "-i", files["inv"], "--known-hosts", kh, "-k", KEY,
             "-F", "/dev/null"]
    base = os.path.join(out_dir, f"n{n}-{job}-muster-daemon")
    daemon_stop()  # one left over from an interrupted run
    wait_fleet_idle(fleet.pids)
    fleet0, busy0 = fleet.cpu(), machine_busy()
    pid, launch_cpu, wall, st, why = daemon_start(dargv, n, args.timeout, base + "-daemon")
    dcpu = daemon_cpu(pid) if pid else 0.0
    dstat = proc_stat_cpu(pid) if pid else 0.0
    fleet_cpu, busy = fleet.cpu() - fleet0, machine_busy() - busy0
    rss = vm_rss_kib(pid) if pid else None
    ctl = launch_cpu + dcpu
    m = {"rc": 0 if pid else 1, "timed_out": False, "wall_s": wall, "ctl_user_s": None,
         "ctl_sys_s": None, "ctl_cpu_s": ctl, "max_rss_kib": rss, "ctl_cgroup_cpu_s": None,
         "daemon_cpu_s": dcpu, "daemon_stat_cpu_s": dstat, "fleet_cpu_s": fleet_cpu,
         "bg_load": max(0.0, (busy - ctl - fleet_cpu) / wall) if wall > 0 else 0.0,
         "fleet_busy_before": 0, "fleet_busy_after": 0}
    ok = bool(pid) and not why
    rec.add(dict(m, timestamp=now_iso(), n=n, job=job, rep=rep, sub=1,
                 tool="muster-daemon-connect", ok=int(ok),
                 note=why or f"daemon VmRSS {rss} KiB holding {n} hosts",
                 command=show_command(dargv, daemon_env()) + " (until --status: all ready)"))
    progress(f"N={n} {job} rep {rep} muster-daemon-connect", m, ok, why)
    if not pid:
        return
    fleet.held = set(listener_children(fleet.pids))  # the daemon's sessions
    try:
        argv, env = tool_command("muster-daemon", n, job, files)
        for k in range(1, args.warm_calls + 1):
            d0 = proc_stat_cpu(pid)
            m, ok, why = measure(
                argv, env, base,
                lambda m, o, e: check_run("muster-daemon", job, n, hosts, m, o, e),
                args, fleet, f"r{rep}.{k}-{stamp}", extra=lambda: daemon_cpu(pid))
            m["daemon_stat_cpu_s"] = proc_stat_cpu(pid) - d0
            rec.add(dict(m, timestamp=now_iso(), n=n, job=job, rep=rep, sub=k,
                         tool="muster-daemon", ok=int(ok), note=why,
                         command=show_command(argv, env)))
        progress(f"N={n} {job} rep {rep} muster-daemon x{args.warm_calls}", m, ok, why)
        st = daemon_status() or {}
        rec.rows[-1]["note"] = "; ".join(filter(None, [
            rec.rows[-1]["note"], f"daemon VmRSS {vm_rss_kib(pid)} KiB after the calls"]))
        bad = [h for h in st.get("hosts", []) if h.get("reconnects")]
        if bad:
            note(f"warning: {len(bad)} hosts reconnected in the daemon ({bad[0].get('host')}: "
                 f"{bad[0].get('error', '')})")
    finally:
        fleet.held = set()
        daemon_stop(pid)

"""The fleet-wide command tools: their command lines, the controller cgroup,
one measured run (wall, CPU, RSS) and the check of its output.
"""

import os
import pwd
import re
import shutil
import signal
import subprocess
import time

from runbench import common
from runbench.common import (DAEMON_SOCK, die, FANOUT, FLEET_DIR, GNU_TIME, JOBS, KEY,
                             MITOGEN_HELPER, note, REPO, SYS_PYTHON)
from runbench.fleet import cgroup_mounts, machine_busy, wait_fleet_idle
from runbench.hostfiles import nodeset


def tool_command(tool, n, job, files):
    cfg = os.path.join(FLEET_DIR, "ssh_config")
    kh = os.path.join(FLEET_DIR, "known_hosts")
    cmd = JOBS.get(job, [job])  # job "CMD": the placeholder in the report
    env = None
    if tool in ("muster-cold", "muster-warm", "muster-daemon"):
        # The socket is always bench/.work's: never a daemon of the user's.
        env = dict(os.environ, MUSTER_DAEMON_SOCKET=DAEMON_SOCK)
        argv = [common.MUSTER, "run", "-i", files["inv"], "--known-hosts", kh, "-k", KEY,
                "-F", "/dev/null"]
        if tool != "muster-daemon" and common.NO_DAEMON_OPT:
            argv.append("--no-daemon")
        argv += ["--"] + cmd
    elif tool == "ansible":
        # cold: run_ansible() stops the ControlPersist masters after each run
        env = dict(os.environ, ANSIBLE_CONFIG=files.get("ans_cfg", "ANSIBLE_CFG"))
        argv = ["ansible", "all", "-i", files.get("ans_inv", "ANSIBLE_INV_N"), "-m",
                "command", "-a", " ".join(cmd), "-f", str(FANOUT), "-o"]
    elif tool == "mitogen":
        argv = [SYS_PYTHON, MITOGEN_HELPER, "--addrs", files["addrs"], "--ssh-config", cfg,
                "--job", job, "--workers", str(FANOUT)]
    elif tool == "pdsh":
        # Not the anchors' '-l%u': pdsh does not take users from a ^file, so
        # %u would be root and override the ssh_config's per-host User.
        env = dict(os.environ, PDSH_SSH_ARGS=f"-F {cfg} -x %h")
        argv = ["pdsh", "-R", "ssh", "-f", str(FANOUT), "-w", "^" + files["addrs"]] + cmd
    elif tool == "pssh":
        argv = ["parallel-ssh", "-h", files["hosts"], "-p", str(FANOUT), "-t", "0",
                "-x", f"-F {cfg}", "-i"] + cmd
    elif tool == "clush":
        argv = ["clush", "-f", str(FANOUT), "--nostdin", "-w", nodeset(n),
                "-o", f"-F {cfg}"] + cmd
    elif tool == "ssh-xargs":
        argv = ["xargs", "-a", files["hosts"], "-P", str(FANOUT), "-I{}", "ssh", "-F", cfg,
                "-n", "{}"] + cmd
    else:
        raise ValueError(tool)
    return argv, env


def show_command(argv, env):
    def q(s):
        return s if re.fullmatch(r"[\w@%+=:,./^{}\[\]-]+", s) else "'" + s.replace("'", "'\\''") + "'"
    pre = ""
    for var in ("PDSH_SSH_ARGS", "MUSTER_DAEMON_SOCKET", "ANSIBLE_CONFIG"):
        if env is not None and var in env:
            pre += var + "=" + q(env[var]) + " "
    return pre + " ".join(q(a) for a in argv)


class CtlGroup:
    """A cgroup (v1 cpuacct, else cgroup2) the measured tool is started in,
    so CPU of processes it daemonizes (ansible's ssh ControlPersist masters)
    is counted too: os.wait4 only sees what the tool waited for."""

    NAME = "muster-bench-ctl"

    def __init__(self):
        self.dir = self.usage = None
        v1, v2 = cgroup_mounts()
        for root, usage in ((v1, "cpuacct.usage"), (v2, "cpu.stat")):
            if root is None:
                continue
            d = os.path.join(root, self.NAME)
            try:
                os.makedirs(d, exist_ok=True)
                self.dir, self.usage = d, os.path.join(d, usage)
                self.cpu()
                return
            except (OSError, ValueError) as e:
                note(f"warning: cannot use cgroup {d}: {e}")
                self.dir = self.usage = None

    def join(self):
        """preexec_fn: move the calling (child) process into the group."""
        if self.dir is not None:
            with open(os.path.join(self.dir, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def cpu(self):
        if self.usage is None:
            return None
        with open(self.usage) as f:
            text = f.read()
        if self.usage.endswith("cpuacct.usage"):
            return int(text) / 1e9
        return int(re.search(r"^usage_usec (\d+)", text, re.MULTILINE).group(1)) / 1e6

    def procs(self):
        if self.dir is None:
            return []
        try:
            with open(os.path.join(self.dir, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def release(self):
        if self.dir is not None:
            try:
                os.rmdir(self.dir)
            except OSError:
                pass


class Timeout(Exception):
    pass


def run_measured(argv, env, out_path, err_path, timeout, fleet, extra=None, post=None,
                 ctl_from_cgroup=False):
    """Run argv, return a dict of measurements. extra() is more controller CPU
    (seconds so far; a muster daemon's), its delta is added to ctl CPU;
    post() runs after the tool exited and before anything is read (stops
    ansible's ControlPersist masters); with ctl_from_cgroup ctl CPU is the
    CtlGroup's delta instead of wait4's (a tool that daemonizes children)."""
    idle_before = wait_fleet_idle(fleet.pids, held=fleet.held)
    fleet0 = fleet.cpu()
    busy0 = machine_busy()
    cg0 = common.CTL.cpu() if common.CTL else None
    extra0 = extra() if extra else 0.0
    timed_out = False
    rss_path = out_path + ".rusage"
    if GNU_TIME:
        # The tool is started by GNU time, whose %M is the ru_maxrss of the
        # tool's tree. Started straight from python, the tool would inherit
        # python's peak RSS: the kernel keeps the pre-exec mm's high-water
        # mark in ru_maxrss.
        argv = [GNU_TIME, "-f", "%M", "-o", rss_path, "--"] + argv
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True, cwd=REPO,
                                preexec_fn=common.CTL.join if common.CTL else None)

        def on_alarm(_sig, _frame):
            nonlocal timed_out
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    extra_cpu = extra() - extra0 if extra else None
    if post:
        post()
    left = wait_fleet_idle(fleet.pids, held=fleet.held)
    fleet_cpu = fleet.cpu() - fleet0
    busy = machine_busy() - busy0
    cg_cpu = common.CTL.cpu() - cg0 if common.CTL and cg0 is not None else None
    ctl = ru.ru_utime + ru.ru_stime
    if ctl_from_cgroup and cg_cpu is not None:
        ctl = cg_cpu
    if extra_cpu is not None:
        ctl += extra_cpu
    max_rss = None
    if GNU_TIME:
        try:
            with open(rss_path) as f:
                # last line: a signalled child makes time write a note first
                max_rss = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
    return {
        "rc": proc.returncode,
        "timed_out": timed_out,
        "wall_s": wall,
        "ctl_user_s": ru.ru_utime,
        "ctl_sys_s": ru.ru_stime,
        "ctl_cpu_s": ctl,
        "max_rss_kib": max_rss,
        "ctl_cgroup_cpu_s": cg_cpu,
        "daemon_cpu_s": extra_cpu,
        "fleet_cpu_s": fleet_cpu,
        "bg_load": max(0.0, (busy - ctl - fleet_cpu) / wall) if wall > 0 else 0.0,
        "fleet_busy_before": idle_before,
        "fleet_busy_after": left,
    }


def read_text(path, limit=1 << 22):
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")


def check_run(tool, job, n, hosts, m, out_path, err_path):
    """(ok, note) for one run: exit status, and the output when there is one."""
    if m["timed_out"]:
        return False, "timed out"
    out = read_text(out_path)
    err = read_text(err_path)
    first_err = next((ln.strip() for ln in err.splitlines() if ln.strip()), "") or \
        next((ln.strip() for ln in out.splitlines() if "[FAILURE]" in ln), "")
    if m["rc"] != 0:
        return False, f"exit {m['rc']}: {first_err}"[:200]
    addrs = [a for a, _ in hosts[:n]]
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if tool == "pdsh":
        bad = [ln for ln in err.splitlines() if "exited with exit code" in ln or
               "Permission denied" in ln]
        if bad:
            return False, f"{len(bad)} host error(s): {bad[0].strip()}"[:200]
    if tool.startswith("muster"):
        mm = re.search(r"(\d+) hosts: (\d+) ok", err)
        if mm and (int(mm.group(1)) != n or int(mm.group(2)) != n):
            return False, f"summary says {mm.group(0)}, expected {n} ok"
    if tool == "pssh":
        okc = sum(1 for ln in lines if "[SUCCESS]" in ln)
        if okc != n:
            return False, f"{okc}/{n} [SUCCESS]"
    if tool == "ansible":
        # -o: "ADDR | CHANGED | rc=0 | (stdout) ..." per host
        done = {ln.split(" | ", 1)[0] for ln in lines
                if " | CHANGED | rc=0 |" in ln and
                (job != "uname" or "(stdout) Linux " in ln)}
        got = len(done & set(addrs))
        if got != n:
            bad = next((ln for ln in lines if " | CHANGED | rc=0 |" not in ln), "")
            return False, f"{got}/{n} hosts CHANGED rc=0 {bad.strip()}"[:200]
        return True, ""
    if job == "uname":
        if tool == "ssh-xargs" or tool == "pssh":
            got = sum(1 for ln in lines if ln.startswith("Linux "))
        else:  # 'host: line' prefixes (muster, pdsh, clush)
            seen = set()
            for ln in lines:
                h, sep, rest = ln.partition(": ")
                if sep and rest.startswith("Linux "):
                    seen.add(h.split("@")[-1])
            got = len(seen & set(addrs))
        if got != n:
            return False, f"{got}/{n} hosts printed uname output"
    return True, ""


def clear_agent_cache(hosts, n):
    for _, user in hosts[:n]:
        try:
            home = pwd.getpwnam(user).pw_dir
        except KeyError:
            die(f"no user {user}")
        shutil.rmtree(os.path.join(home, ".cache", "muster"), ignore_errors=True)

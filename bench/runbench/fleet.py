"""The bench fleet: deploy/local-fleet up/down, its hosts and sshd listeners,
fleet CPU (cgroup or /proc) and waiting until no session is left.
"""

import os
import re
import subprocess
import time

from runbench.common import CLK_TCK, die, FLEET_DIR, LOCAL_FLEET, NET, note, USER_PREFIX


def read_env():
    env = {}
    try:
        with open(os.path.join(FLEET_DIR, "fleet.env")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                env[k] = v
    except FileNotFoundError:
        pass
    return env


def fleet_up(n):
    env = read_env()
    have = int(env.get("N") or 0)
    if env and (env.get("NET") != NET or env.get("USER_PREFIX") != USER_PREFIX):
        die(f"{FLEET_DIR} holds a fleet with other settings "
            f"(NET={env.get('NET')} USER_PREFIX={env.get('USER_PREFIX')})")
    want = max(n, have)  # `up` stops hosts above N: never shrink a bigger fleet
    cmd = [LOCAL_FLEET, "up", str(want), "--net", NET, "--user-prefix", USER_PREFIX,
           "--no-user-known-hosts"]
    note(f"fleet: MUSTER_FLEET_DIR={FLEET_DIR} {' '.join(cmd)}")
    r = subprocess.run(cmd, env=dict(os.environ, MUSTER_FLEET_DIR=FLEET_DIR),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    for line in r.stdout.splitlines():
        note("  " + line)
    if r.returncode != 0:
        die("deploy/local-fleet up failed")


def fleet_down():
    r = subprocess.run([LOCAL_FLEET, "down"], env=dict(os.environ, MUSTER_FLEET_DIR=FLEET_DIR),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    for line in r.stdout.splitlines():
        note("  " + line)


def fleet_hosts():
    """[(addr, user)] in inventory order from the [fleet] section."""
    hosts, section = [], None
    with open(os.path.join(FLEET_DIR, "inventory")) as f:
        for line in f:
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if s.startswith("["):
                section = s.strip("[]")
                continue
            if section != "fleet":
                continue
            parts = s.split()
            user = next((p[5:] for p in parts[1:] if p.startswith("user=")), None)
            hosts.append((parts[0], user))
    return hosts


def listener_pids():
    """pids of the bench fleet's live sshd listeners."""
    pids = []
    hosts_dir = os.path.join(FLEET_DIR, "hosts")
    for d in sorted(os.listdir(hosts_dir)):
        hd = os.path.join(hosts_dir, d)
        try:
            with open(os.path.join(hd, "sshd.pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if os.path.join(hd, "sshd_config").encode() not in f.read():
                    continue
        except (OSError, ValueError):
            continue
        pids.append(pid)
    return pids


def proc_cpu(pids):
    """Sum of utime+stime+cutime+cstime (seconds) of these processes."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after "pid (comm)": state is fields[0]; utime..cstime are stat 14..17
        ticks += sum(int(x) for x in fields[11:15])
    return ticks / CLK_TCK


CGROUP_NAME = "muster-bench-fleet"


def cgroup_mounts():
    """(cgroup v1 cpuacct mount point or None, cgroup2 mount point or None)."""
    v1 = v2 = None
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4:
                continue
            if parts[2] == "cgroup" and "cpuacct" in parts[3].split(",") and v1 is None:
                v1 = parts[1]
            elif parts[2] == "cgroup2" and v2 is None:
                v2 = parts[1]
    return v1, v2


class Fleet:
    """The bench fleet's sshd listeners and the CPU their whole trees used.

    The listeners are moved into a cgroup of their own (v1 cpuacct, else
    cgroup2), which every session process they fork inherits, and fleet CPU
    is read from it. Counting the listeners' cutime/cstime instead misses a
    lot: sshd's privsep monitor exits without reaping the post-auth child
    (the one doing the session's crypto, with sftp-server, scp, the agent
    below it) when the client disconnects, so that child is reaped by init
    and its CPU never reaches the listener. That way is only the fallback
    when no cgroup can be made."""

    def __init__(self, pids):
        self.pids = pids
        self.held = set()  # sessions a running muster daemon holds: not "busy"
        self.usage, self.how = None, "listeners' utime+stime+cutime+cstime (/proc)"
        v1, v2 = cgroup_mounts()
        for root, usage in ((v1, "cpuacct.usage"), (v2, "cpu.stat")):
            if root is None:
                continue
            d = os.path.join(root, CGROUP_NAME)
            try:
                os.makedirs(d, exist_ok=True)
                for pid in pids:
                    with open(os.path.join(d, "cgroup.procs"), "w") as f:
                        f.write(str(pid))
                self.usage = os.path.join(d, usage)
                self.cpu()
                self.how = f"cgroup {d} ({usage})"
                return
            except (OSError, ValueError) as e:
                note(f"warning: cannot use cgroup {d}: {e}")
                self.usage = None
        note("warning: no cgroup for the fleet: fleet CPU misses sessions sshd "
             "does not reap (see bench/README.md)")

    def cpu(self):
        """CPU seconds used by the fleet so far."""
        if self.usage is None:
            return proc_cpu(self.pids)
        with open(self.usage) as f:
            text = f.read()
        if self.usage.endswith("cpuacct.usage"):
            return int(text) / 1e9
        return int(re.search(r"^usage_usec (\d+)", text, re.MULTILINE).group(1)) / 1e6

    def release(self):
        """Remove the cgroup once the fleet is down (fails while in use)."""
        if self.usage is not None:
            try:
                os.rmdir(os.path.dirname(self.usage))
            except OSError:
                pass


def listener_children(pids):
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def n_children(pids, held=()):
    return sum(1 for c in listener_children(pids) if c not in held)


def wait_fleet_idle(pids, limit=10.0, held=()):
    """Wait until no listener has a child (every session reaped, so its CPU is
    in the listener's cutime/cstime) but the sessions in `held` (a muster
    daemon's). Returns the children left (0 = idle)."""
    deadline = time.monotonic() + limit
    while True:
        left = n_children(pids, held)
        if left == 0 or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)


def machine_busy():
    """Busy CPU seconds of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])  # guest times are already in user/nice
    return (total - idle) / CLK_TCK

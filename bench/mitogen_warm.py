#!/usr/bin/python3
"""Mitogen warm calls on N hosts, for bench/run-bench (tools mitogen-connect
and mitogen-warm).

Connects N mitogen contexts concurrently, as the anchor baseline did:
router.ssh(hostname=ADDR, ssh_args=['-F', CFG], python_path=['/usr/bin/python3'],
check_host_keys='enforce', compression=False) from a 64-thread pool; then makes
one untimed fleet-wide call (warm-up: remote imports), then --calls timed
fleet-wide calls: call_async(subprocess.call, ['true']) (--job true) or
call_async(subprocess.check_output, ['uname', '-a']) (--job uname) on every
context at once, collecting every reply.  Prints one JSON object on stdout:

  {"n", "job", "connect": PHASE, "first_call": PHASE, "calls": [PHASE, ...],
   "shutdown": PHASE, "max_rss_kib", "errors": [...]}
  PHASE = {"wall_s", "ctl_cpu_s", "fleet_cpu_s", "busy_s", "ok", "note"}

ctl_cpu_s: user+sys of this process (all threads) plus its live children (the
ssh clients mitogen keeps, one per context) plus reaped children, from /proc,
after minus before; with --ctl-usage (a cgroup this process runs in) from that
cgroup instead, which has a finer grain than /proc's 10 ms ticks.  fleet_cpu_s: from --fleet-usage (cgroup v1
cpuacct.usage in ns, or cgroup2 cpu.stat), after minus before; 0 without it.
busy_s: busy CPU of the whole machine (/proc/stat).  max_rss_kib: VmHWM of this
process (the largest process of the controller tree).

Usage: mitogen_warm.py --addrs FILE --ssh-config CFG [--job true|uname]
                       [--calls K] [--workers 64] [--fleet-usage PATH]
Python 3 standard library plus python3-mitogen (Debian); run it with
/usr/bin/python3, which is where Debian's mitogen is.
"""

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_ticks(pid, with_children_reaped=False):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    n = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children_reaped:
        n += int(fields[13]) + int(fields[14])  # cutime, cstime
    return n


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree_cpu():
    """CPU seconds of this process, its reaped children and every live
    descendant."""
    me = os.getpid()
    ticks = proc_ticks(me, True)
    todo = children(me)
    while todo:
        pid = todo.pop()
        ticks += proc_ticks(pid, True)
        todo += children(pid)
    return ticks / CLK_TCK


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / CLK_TCK


class FleetCPU:
    def __init__(self, path):
        self.path = path

    def __call__(self):
        if not self.path:
            return 0.0
        with open(self.path) as f:
            text = f.read()
        if self.path.endswith("cpuacct.usage"):
            return int(text) / 1e9
        return int(re.search(r"^usage_usec (\d+)", text, re.MULTILINE).group(1)) / 1e6


class Phase:
    ctl = staticmethod(tree_cpu)

    def __init__(self, fleet):
        self.fleet = fleet

    def __enter__(self):
        self.c0, self.f0, self.b0 = self.ctl(), self.fleet(), machine_busy()
        self.t0 = time.monotonic()
        self.ok, self.note = True, ""
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.result = {
            "wall_s": self.wall,
            "ctl_cpu_s": self.ctl() - self.c0,
            "fleet_cpu_s": self.fleet() - self.f0,
            "busy_s": machine_busy() - self.b0,
            "ok": self.ok and exc[0] is None,
            "note": self.note or ("" if exc[0] is None else repr(exc[1])[:300]),
        }
        return False


def vm_hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--addrs", required=True, help="file with one host address a line")
    p.add_argument("--ssh-config", required=True)
    p.add_argument("--job", choices=("true", "uname"), default="true")
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--workers", type=int, default=64)
    p.add_argument("--connect-timeout", type=float, default=120,
                   help="router.ssh(connect_timeout=): mitogen's default, 30 s, is too "
                   "short when 50+ python bootstraps share 2 busy cores (default 120)")
    p.add_argument("--fleet-usage", default="")
    p.add_argument("--ctl-usage", default="",
                   help="cgroup usage file of a cgroup this process was started in: "
                   "ctl CPU from it (ns grain) instead of /proc ticks")
    a = p.parse_args()
    with open(a.addrs) as f:
        addrs = [ln.strip() for ln in f if ln.strip()]
    n = len(addrs)

    import mitogen.master  # Debian python3-mitogen
    fleet = FleetCPU(a.fleet_usage)
    if a.ctl_usage:
        Phase.ctl = staticmethod(FleetCPU(a.ctl_usage))
    out = {"n": n, "job": a.job, "calls": [], "errors": []}

    broker = mitogen.master.Broker()
    router = mitogen.master.Router(broker)
    try:
        def connect(addr):
            return router.ssh(hostname=addr, ssh_args=["-F", a.ssh_config],
                              python_path=["/usr/bin/python3"],
                              check_host_keys="enforce", compression=False,
                              connect_timeout=a.connect_timeout)

        with Phase(fleet) as ph:
            ctxs, errs = [], []
            with concurrent.futures.ThreadPoolExecutor(a.workers) as ex:
                futs = {ex.submit(connect, addr): addr for addr in addrs}
                for fut in concurrent.futures.as_completed(futs):
                    try:
                        ctxs.append(fut.result())
                    except Exception as e:  # a host that did not come up
                        errs.append(f"{futs[fut]}: {e}")
            if errs:
                ph.ok, ph.note = False, f"{len(errs)}/{n} contexts failed: {errs[0]}"[:300]
                out["errors"] += errs[:10]
        out["connect"] = ph.result
        out["contexts"] = len(ctxs)

        if a.job == "true":
            fn, arg = subprocess.call, ["true"]

            def good(v):
                return v == 0
        else:
            fn, arg = subprocess.check_output, ["uname", "-a"]

            def good(v):
                return isinstance(v, bytes) and v.startswith(b"Linux ")

        def fleet_call(ph):
            recvs = [c.call_async(fn, arg) for c in ctxs]
            bad = 0
            for r in recvs:
                try:
                    if not good(r.get().unpickle()):
                        bad += 1
                except Exception as e:
                    bad += 1
                    if len(out["errors"]) < 10:
                        out["errors"].append(repr(e)[:300])
            if bad or len(ctxs) != n:
                ph.ok = False
                ph.note = f"{len(ctxs) - bad}/{n} hosts answered correctly"

        with Phase(fleet) as ph:
            fleet_call(ph)
        out["first_call"] = ph.result
        for _ in range(a.calls):
            with Phase(fleet) as ph:
                fleet_call(ph)
            out["calls"].append(ph.result)
    finally:
        with Phase(fleet) as ph:
            broker.shutdown()
            broker.join()
        out["shutdown"] = ph.result
    out["max_rss_kib"] = vm_hwm()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    ok = out["connect"]["ok"] and all(c["ok"] for c in out["calls"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The mitogen tool: bench/mitogen_warm.py in the controller cgroup, its
connect row and its warm-call rows.
"""

import json
import os
import shutil

from runbench import common
from runbench.common import note
from runbench.tools import read_text, run_measured, show_command, tool_command
from runbench.record import now_iso


def run_mitogen_tool(args, n, job, rep, fleet, files, stamp, out_dir, rec, progress):
    """mitogen: bench/mitogen_warm.py connects N contexts (row mitogen-connect)
    and makes --warm-calls timed fleet-wide calls after one untimed one (rows
    mitogen-warm); it measures each phase itself and prints JSON."""
    argv, _ = tool_command("mitogen", n, job, files)
    argv += ["--calls", str(args.warm_calls)]
    if fleet.usage:
        argv += ["--fleet-usage", fleet.usage]
    if common.CTL and common.CTL.usage:
        argv += ["--ctl-usage", common.CTL.usage]
    base = os.path.join(out_dir, f"n{n}-{job}-mitogen")
    m = run_measured(argv, None, base + ".out", base + ".err", args.timeout, fleet)
    cmdline = show_command(argv, None)
    try:
        res = json.loads(read_text(base + ".out").strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = None
    if res is None or "connect" not in res:
        why = f"exit {m['rc']}, no JSON: " + read_text(base + ".err")[-200:].strip()
        for ext in (".out", ".err"):
            shutil.copyfile(base + ext, f"{base}-r{rep}-{stamp}-FAILED{ext}")
        rec.add(dict(m, timestamp=now_iso(), n=n, job=job, rep=rep, sub=1,
                     tool="mitogen-connect", ok=0, note=why, command=cmdline))
        progress(f"N={n} {job} rep {rep} mitogen", m, False, why)
        return

    def row(tool, sub, ph):
        wall = ph["wall_s"]
        bg = max(0.0, (ph["busy_s"] - ph["ctl_cpu_s"] - ph["fleet_cpu_s"]) / wall) \
            if wall > 0 else 0.0
        r = {"rc": m["rc"], "timed_out": m["timed_out"], "wall_s": wall, "ctl_user_s": None,
             "ctl_sys_s": None, "ctl_cpu_s": ph["ctl_cpu_s"], "ctl_cgroup_cpu_s": None,
             "daemon_cpu_s": None, "max_rss_kib": res.get("max_rss_kib"),
             "fleet_cpu_s": ph["fleet_cpu_s"], "bg_load": bg, "fleet_busy_before": 0,
             "fleet_busy_after": 0}
        rec.add(dict(r, timestamp=now_iso(), n=n, job=job, rep=rep, sub=sub, tool=tool,
                     ok=int(bool(ph["ok"])), note=ph.get("note", ""), command=cmdline))
        return r
    c = res["connect"]
    row("mitogen-connect", 1, c)
    progress(f"N={n} {job} rep {rep} mitogen-connect", dict(
        c, fleet_cpu_s=c["fleet_cpu_s"]), bool(c["ok"]), c.get("note", ""))
    for k, ph in enumerate(res.get("calls", []), 1):
        r = row("mitogen-warm", k, ph)
    if res.get("calls"):
        rec.rows[-1]["note"] = "; ".join(filter(None, [
            rec.rows[-1]["note"], "first (untimed) call %.3f s, shutdown %.3f s" % (
                res["first_call"]["wall_s"], res["shutdown"]["wall_s"])]))
        progress(f"N={n} {job} rep {rep} mitogen-warm x{len(res['calls'])}", r,
                 all(ph["ok"] for ph in res["calls"]), "")
    if m["rc"] != 0 or res.get("errors"):
        note(f"mitogen exit {m['rc']}: {'; '.join(res.get('errors', []))[:300]}")

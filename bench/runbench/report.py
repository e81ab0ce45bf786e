"""The reports: medians and ratios, the Markdown tables (run and push), the
targets, the gnuplot chart, the CSV columns.
"""

import math
import os
import shutil
import statistics
import subprocess

from runbench import common
from runbench.common import (FLEET_DIR, JOBS, NET, PUSH_DEST, PUSH_DIR, PUSH_SAMPLE,
                             REPO, SYS_PYTHON, TOOL_ROWS, WORK_DIR)


def med(v):
    return statistics.median(v) if v else None


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "—"
    r = a / b
    if r < 0.01:
        return f"{r:.4f}x"
    if r < 0.1:
        return f"{r:.3f}x"
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x"


def versions(tools):
    def first_line(argv):
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=10)
            return (r.stdout.strip().splitlines() or ["?"])[0]
        except (OSError, subprocess.TimeoutExpired):
            return "not found"
    v = []
    if any(t.startswith("muster") for t in tools):
        v.append(("muster", first_line([common.MUSTER, "version"])))
    v.append(("OpenSSH", first_line(["ssh", "-V"])))
    if "pdsh" in tools:
        v.append(("pdsh", first_line(["pdsh", "-V"])))
    if "pdcp" in tools:
        v.append(("pdcp", first_line(["pdcp", "-V"])))
    if "pssh" in tools:
        v.append(("parallel-ssh", first_line(["parallel-ssh", "--version"])))
    if "pscp" in tools:
        v.append(("parallel-scp", first_line(["parallel-scp", "--version"])))
    if "clush" in tools:
        v.append(("clush", first_line(["clush", "--version"])))
    if "ssh-xargs" in tools:
        v.append(("xargs", first_line(["xargs", "--version"])))
    if "ansible" in tools:
        v.append(("ansible", first_line(["ansible", "--version"])))
    if "mitogen" in tools:
        v.append(("mitogen", first_line([SYS_PYTHON, "-c", "import mitogen; print("
                                         "'.'.join(map(str, mitogen.__version__)))"])))
    return v


def git_head():
    try:
        r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return r.stdout.strip() or "?"
    except OSError:
        return "?"


def tool_stats(rs):
    """Medians (and wall range, largest max RSS in MiB) of one tool's ok runs."""
    ok = [r for r in rs if r["ok"]]
    rss = max((r["max_rss_kib"] for r in ok if r["max_rss_kib"]), default=None)
    st = {
        "ok": len(ok), "total": len(rs),
        "wall": med([r["wall_s"] for r in ok]),
        "ctl": med([r["ctl_cpu_s"] for r in ok if r["ctl_cpu_s"] is not None]),
        "fleet": med([r["fleet_cpu_s"] for r in ok]),
        "rss": None if rss is None else rss / 1024,
        "bg": med([r["bg_load"] for r in ok]),
        "range": "—" if not ok else "%.2f–%.2f" % (min(r["wall_s"] for r in ok),
                                                   max(r["wall_s"] for r in ok)),
        "min": min((r["wall_s"] for r in ok), default=None),
        "max": max((r["wall_s"] for r in ok), default=None),
    }
    return st


def render_setup(meta):
    return (f"`bench/run-bench {' '.join(meta['argv'])}` on {meta['host']}; "
            f"{os.cpu_count()} CPUs shared by the controller and the whole fleet; "
            f"load average at start {meta['load']}; repo HEAD {meta['head']} "
            f"(working tree as it was); fleet: {meta['fleet_n']} sshd on {NET}.x:22 "
            f"({FLEET_DIR}).")


def render_failures(rows, what):
    fails = [r for r in rows if not r["ok"]]
    if not fails:
        return []
    return ["## Failed runs", ""] + \
        [f"- {r['tool']} {what(r)} rep {r['rep']}: {r['note']}" for r in fails] + [""]


def row_tools(tools):
    """Table rows of these tools, in order (a tool may give several rows)."""
    return [r for t in tools for r in TOOL_ROWS.get(t, [t])]


def fmt_s(v):
    """Seconds: 3 decimals below 1 s."""
    return "—" if v is None else format(v, ".3f" if v < 1 else ".2f")


def exec_stats(rows, job, n, tools):
    sel = [r for r in rows if r["job"] == job and r["n"] == n]
    return {t: tool_stats([r for r in sel if r["tool"] == t]) for t in row_tools(tools)}


def render(rows, args, meta):
    L = []
    L.append(f"# muster fleet benchmark, {meta['stamp']}")
    L.append("")
    L.append(render_setup(meta))
    L.append("")
    if args.runs < 3:
        L.append(f"**{args.runs} run(s) per tool only: a try-out, not numbers to quote.**")
        L.append("")
    if meta.get("chart"):
        L.append(f"![wall time and controller CPU per tool and size]({meta['chart']})")
        L.append("")
    L.append("Medians over the ok runs (min–max: the spread of wall time); CPU = "
             "user+sys seconds. `ctl` = the controller: the tool's whole process tree "
             "(wait4 rusage; ansible: the controller cgroup, which also holds its "
             "ControlPersist masters; muster-daemon: the CLI's rusage plus the daemon's "
             "CPU over the call; mitogen: the helper's cgroup, python plus its ssh "
             "children). `fleet` = the bench sshd listeners "
             "and everything they fork (sessions, agents, remote commands), from "
             f"{meta['fleet_cpu']}. `max RSS` = the largest single controller process "
             "(muster-daemon: the CLI; muster-daemon-connect: the daemon's VmRSS when all "
             "N are ready; mitogen: python's VmHWM). `bg load` = "
             "cores taken by other work during the run. Ratios are this tool's "
             "median divided by pdsh's / mitogen-warm's (below 1x: cheaper or faster "
             "than that anchor). `*-connect` rows are the set-up of a warm tool (daemon "
             "start until all N hosts are ready; mitogen: all N contexts up); "
             f"`muster-daemon` and `mitogen-warm` rows are {args.warm_calls} timed "
             "fleet-wide calls per repetition on the warm hosts, each a sample. "
             "Compare rows within one run only: the box is noisy.")
    L.append("")
    for job in args.jobs:
        for n in args.sizes:
            stats = exec_stats(rows, job, n, args.tools)
            if not any(st["total"] for st in stats.values()):
                continue
            L.append(f"## `{' '.join(JOBS[job])}` on N={n} hosts")
            L.append("")
            L.append("| tool | runs ok | wall median s | wall min–max s | ctl CPU s | "
                     "fleet CPU s | ctl CPU ms/host | max RSS MiB | bg load | "
                     "wall ÷ pdsh | ctl CPU ÷ pdsh | wall ÷ mitogen-warm |")
            L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
            pd = stats.get("pdsh", {})
            mw = stats.get("mitogen-warm", {})
            for tool, st in stats.items():
                ms_host = None if st["ctl"] is None else st["ctl"] * 1000 / n
                rng = "—" if st["min"] is None else f"{fmt_s(st['min'])}–{fmt_s(st['max'])}"
                L.append(f"| {tool} | {st['ok']}/{st['total']} | **{fmt_s(st['wall'])}** | "
                         f"{rng} | {fmt_s(st['ctl'])} | {fmt_s(st['fleet'])} | "
                         f"{fmt(ms_host, '.1f')} | {fmt(st['rss'], '.1f')} | "
                         f"{fmt(st['bg'], '.2f')} | "
                         f"{ratio(st['wall'], pd.get('wall'))} | "
                         f"{ratio(st['ctl'], pd.get('ctl'))} | "
                         f"{ratio(st['wall'], mw.get('wall'))} |")
            L.append("")
    L += render_targets(rows, args)
    L += render_failures(rows, lambda r: f"`{r['job']}` N={r['n']}")
    L.append("## Commands (CMD = `true` or `uname -a`)")
    L.append("")
    L.append("```")
    for tool in args.tools:
        if tool == "muster-daemon":
            L.append(f"{'muster-daemon-connect':<14} {meta['commands']['muster-daemon-start']}"
                     "   (then `muster daemon --status --json` until all N are ready)")
        L.append(f"{tool:<14} {meta['commands'][tool]}")
    L.append("```")
    L.append("")
    L.append("muster-cold first removes `~/.cache/muster` from the N bench users' homes; "
             "muster-warm runs right after it with the agent cached (still a fresh SSH "
             "connection per host); both pass `--no-daemon`. muster-daemon starts the "
             "daemon with the same -i/-k/--known-hosts/-F (socket in bench/.work), waits "
             "until `--status --json` shows all N ready, times the `muster run` calls "
             "through it, then `muster daemon --stop`. ansible is cold: the ControlPersist "
             "masters are stopped (`ssh -O exit`) before and after every run. mitogen = "
             "`bench/mitogen_warm.py` (router.ssh() per host from 64 threads, then "
             "`call_async(subprocess.call, ['true'])` or `call_async("
             "subprocess.check_output, ['uname', '-a'])` on all contexts at once, after "
             "one untimed warm-up call). Before reading fleet CPU the script waits until no "
             "listener has a session child left (10 s at most; the daemon's held sessions "
             "excepted).")
    L.append("")
    L.append("Versions: " + "; ".join(f"{k}: {v}" for k, v in meta["versions"]) + ".")
    L.append("")
    return "\n".join(L)


def render_targets(rows, args):
    """Issue 5's targets at the largest size measured (100 in a full run)."""
    L = []
    n = max(args.sizes)
    for job in args.jobs:
        st = exec_stats(rows, job, n, args.tools)
        pd, mc = st.get("pdsh", {}), st.get("muster-cold", {})
        md, mw = st.get("muster-daemon", {}), st.get("mitogen-warm", {})
        items = []
        if mc.get("wall") and pd.get("wall"):
            items.append(f"muster-cold wall ÷ pdsh = {ratio(mc['wall'], pd['wall'])} "
                         f"(target ≤ 0.5x)")
            items.append(f"muster-cold ctl CPU ÷ pdsh = {ratio(mc['ctl'], pd['ctl'])} "
                         f"(target ≤ 0.05x)")
        if md.get("wall"):
            items.append(f"muster-daemon wall {md['wall'] * 1000:.0f} ms (target < 100 ms)")
        if md.get("wall") and mw.get("wall"):
            items.append(f"mitogen-warm ÷ muster-daemon = {ratio(mw['wall'], md['wall'])} "
                         f"(target ≥ 10x)")
        if items:
            L.append(f"- `{' '.join(JOBS[job])}`, N={n}: " + "; ".join(items))
    if L:
        L = ["## Targets (issue 5), at N=%d" % n, ""] + L + [""]
    return L


def draw_chart(rows, args, png):
    """PNG of the exec tables with gnuplot: per job, wall time (median, bar;
    min–max, error bar) and controller CPU (median) per tool, one bar per
    size, log scale. Returns "" or why no chart was drawn."""
    gp = shutil.which("gnuplot")
    if gp is None:
        return "gnuplot not found (Debian package gnuplot-nox)"
    d = os.path.join(WORK_DIR, "chart")
    os.makedirs(d, exist_ok=True)
    tools = row_tools(args.tools)
    vals = []
    for job in args.jobs:
        path = os.path.join(d, f"{job}.dat")
        with open(path, "w") as f:
            f.write("# tool " + " ".join(f"wall{n} min{n} max{n} ctl{n}" for n in args.sizes)
                    + "\n")
            for i, tool in enumerate(tools):
                cols = []
                for n in args.sizes:
                    st = tool_stats([r for r in rows if r["job"] == job and r["n"] == n
                                     and r["tool"] == tool])
                    for v in (st["wall"], st["min"], st["max"], st["ctl"]):
                        cols.append("?" if not v or v <= 0 else f"{v:.6f}")
                        if v and v > 0:
                            vals.append(v)
                f.write(f"{i} {tool} " + " ".join(cols) + "\n")
    if not vals:
        return "no ok run to draw"
    lo = 10 ** math.floor(math.log10(min(vals)))
    hi = 10 ** math.ceil(math.log10(max(vals)))
    ncol = len(args.jobs)
    width = max(900, 60 * len(tools) * len(args.sizes) // 2 + 200) * ncol
    g = [f"set terminal pngcairo size {width},1100 font ',10'",
         f"set output '{png}'",
         "set datafile missing '?'",
         "set style data histograms",
         "set style fill solid 0.8 border -1",
         "set boxwidth 0.9",
         "set logscale y",
         f"set yrange [{lo / 2}:{hi * 2}]",
         "set grid ytics mytics",
         "set xtics rotate by -30 nomirror",
         "set key top left",
         f"set multiplot layout 2,{ncol} title 'muster vs anchors, same fleet, same run "
         f"(log scale; medians of the ok runs)'"]
    for what in ("wall", "ctl"):
        for job in args.jobs:
            path = os.path.join(d, f"{job}.dat")
            title = "wall time s (bar: median, whisker: min-max)" if what == "wall" \
                else "controller CPU s (median)"
            g.append(f"set title \"{' '.join(JOBS[job])}: {title}\"")
            if what == "wall":
                g.append("set style histogram errorbars gap 1 lw 1")
                plots = []
                for k, n in enumerate(args.sizes):
                    c = 3 + 4 * k
                    plots.append(f"'{path}' using {c}:{c + 1}:{c + 2}" +
                                 (":xtic(2)" if k == 0 else "") + f" title 'N={n}'")
            else:
                g.append("set style histogram clustered gap 1")
                plots = []
                for k, n in enumerate(args.sizes):
                    c = 6 + 4 * k
                    plots.append(f"'{path}' using {c}" + (":xtic(2)" if k == 0 else "") +
                                 f" title 'N={n}'")
            g.append("plot " + ", ".join(plots))
    g.append("unset multiplot")
    script = os.path.join(d, "chart.gp")
    with open(script, "w") as f:
        f.write("\n".join(g) + "\n")
    r = subprocess.run([gp, script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0 or not os.path.exists(png):
        return "gnuplot failed: " + r.stdout.strip()[-300:]
    return ""


def render_push(rows, args, meta):
    L = [f"# muster push benchmark, {meta['stamp']}", "", render_setup(meta), ""]
    L.append("Medians over the ok runs; CPU = user+sys seconds. `ctl` = the tool's "
             "whole process tree (wait4 rusage), `fleet` = the bench sshd listeners "
             "and everything they fork (sessions, sftp-server/scp/pdcp, the muster "
             f"agent), from {meta['fleet_cpu']}, `bg load` = cores taken by other "
             "work during the run, "
             "MiB/s = file size × N / wall. Ratios are this tool's median divided by "
             "muster's (above 1x: muster is cheaper/faster). muster-unchanged is the "
             "same push again right after muster's (nothing to send). Compare rows "
             "within one run only: the box is noisy.")
    L.append("")
    for case in args.push_cases:
        sel = [r for r in rows if r["case"] == case["key"] and r["n"] == case["n"]]
        if not sel:
            continue
        n, nbytes = case["n"], case["bytes"]
        L.append(f"## {case['label']} random file to N={n} hosts")
        L.append("")
        L.append("| tool | runs ok | wall median s | wall min–max s | MiB/s | ctl CPU s | "
                 "fleet CPU s | max RSS MiB | bg load | wall ÷ muster | "
                 "ctl CPU ÷ muster | fleet CPU ÷ muster |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        stats = {t: tool_stats([r for r in sel if r["tool"] == t]) for t in args.push_tools}
        base = stats.get("muster", {})
        for tool in args.push_tools:
            st = stats[tool]
            mibs = None if not st["wall"] or tool == "muster-unchanged" else \
                nbytes * n / st["wall"] / (1 << 20)
            L.append(f"| {tool} | {st['ok']}/{st['total']} | **{fmt(st['wall'], '.2f')}** | "
                     f"{st['range']} | {fmt(mibs, '.1f')} | {fmt(st['ctl'], '.2f')} | "
                     f"{fmt(st['fleet'], '.2f')} | {fmt(st['rss'], '.1f')} | "
                     f"{fmt(st['bg'], '.2f')} | {ratio(st['wall'], base.get('wall'))} | "
                     f"{ratio(st['ctl'], base.get('ctl'))} | "
                     f"{ratio(st['fleet'], base.get('fleet'))} |")
        L.append("")
    L += render_failures(rows, lambda r: f"{r['case']}@{r['n']}")
    L.append("## Commands")
    L.append("")
    L.append("```")
    for tool in args.push_tools:
        L.append(f"{tool:<16} {meta['push_commands'][tool]}")
    L.append("```")
    L.append("")
    L.append(f"SRC = a fresh random file per case (`bench/.work/push/<size>/f`, the same for "
             f"every tool and repetition); `{PUSH_DEST}` is relative to each bench user's "
             f"home. Order per repetition: {', '.join(args.push_tools)}. The agents are "
             f"warmed once per case before timing (`muster run -i INV_N ... -- true`). Before "
             f"each run except muster-unchanged, `~/{PUSH_DIR}` is emptied on the N hosts "
             f"(as root) and sync(2) called. After each run: size of `~/{PUSH_DEST}` on all N "
             f"hosts, sha256 on {PUSH_SAMPLE} random ones, tool exit status and output "
             f"(muster: summary N changed / N unchanged and bytes sent = size × N / 0; "
             f"pdcp: no `fatal:`/exit-code lines, as it exits 0 on host failures; pscp: N "
             f"`[SUCCESS]`); any mismatch marks the run failed.")
    L.append("")
    L.append("Versions: " + "; ".join(f"{k}: {v}" for k, v in meta["push_versions"]) + ".")
    L.append("")
    return "\n".join(L)


CSV_FIELDS = ["timestamp", "n", "job", "rep", "sub", "tool", "ok", "rc", "wall_s",
              "ctl_user_s", "ctl_sys_s", "ctl_cpu_s", "ctl_cgroup_cpu_s", "daemon_cpu_s",
              "daemon_stat_cpu_s", "fleet_cpu_s", "max_rss_kib", "bg_load",
              "fleet_busy_before", "fleet_busy_after", "note", "command"]
PUSH_CSV_FIELDS = ["timestamp", "case", "size_bytes", "n", "rep", "tool", "ok", "rc",
                   "wall_s", "mib_s", "ctl_user_s", "ctl_sys_s", "ctl_cpu_s", "fleet_cpu_s",
                   "max_rss_kib", "bg_load", "fleet_busy_before", "fleet_busy_after",
                   "note", "command"]

"""main() of bench/run-bench: checks, the fleet, the job loops, the reports;
and --render (the reports again from a CSV).
"""

import csv
import datetime
import os
import platform
import shutil
import subprocess
import sys

from runbench import common
from runbench.common import (ANS_DIR, DAEMON_SOCK, die, FLEET_DIR, GNU_TIME, JOBS, KEY,
                             note, PUSH_DIR, REPO, RESULTS, SYS_PYTHON, TOOL_ROWS,
                             TOOLS, WARM_CALLS, WORK_DIR)
from runbench.args import parse_args
from runbench.fleet import Fleet, fleet_down, fleet_hosts, fleet_up, listener_pids
from runbench.hostfiles import make_ansible_cfg, make_size_files, stop_ansible_masters
from runbench.tools import (check_run, clear_agent_cache, CtlGroup, show_command,
                            tool_command)
from runbench.record import measure, now_iso, Progress, Recorder
from runbench.push import push_command, run_push_jobs
from runbench.report import (CSV_FIELDS, draw_chart, git_head, PUSH_CSV_FIELDS, render,
                             render_push, row_tools, versions)
from runbench.daemon import run_daemon_tool
from runbench.mitogen import run_mitogen_tool


def run_exec_jobs(args, hosts, fleet, files, stamp, out_dir, rec, progress):
    for n in args.sizes:
        for job in args.jobs:
            for rep in range(1, args.runs + 1):
                for tool in args.tools:
                    if tool == "muster-daemon":
                        run_daemon_tool(args, n, job, rep, hosts, fleet, files[n], stamp,
                                        out_dir, rec, progress)
                        continue
                    if tool == "mitogen":
                        run_mitogen_tool(args, n, job, rep, fleet, files[n], stamp, out_dir,
                                         rec, progress)
                        continue
                    if tool == "muster-cold":
                        clear_agent_cache(hosts, n)
                    post = None
                    if tool == "ansible":
                        stop_ansible_masters()  # cold: no master left from before
                        post = stop_ansible_masters
                    argv, env = tool_command(tool, n, job, files[n])
                    m, ok, why = measure(
                        argv, env, os.path.join(out_dir, f"n{n}-{job}-{tool}"),
                        lambda m, o, e: check_run(tool, job, n, hosts, m, o, e),
                        args, fleet, f"r{rep}-{stamp}", post=post,
                        ctl_from_cgroup=(tool == "ansible"))
                    rec.add(dict(m, timestamp=now_iso(), n=n, job=job, rep=rep, sub=1,
                                 tool=tool, ok=int(ok), note=why,
                                 command=show_command(argv, env)))
                    progress(f"N={n} {job} rep {rep} {tool:<11}", m, ok, why)


def shown_command(argv, env):
    """The command as the report shows it: paths relative to the repo."""
    shown = show_command(argv, env).replace(os.path.join(FLEET_DIR, ""), "bench/.fleet/")
    return shown.replace(os.path.join(REPO, ""), "")


def write_report(md, name, latest):
    path = os.path.join(RESULTS, name)
    with open(path, "w") as f:
        f.write(md)
    shutil.copyfile(path, os.path.join(RESULTS, latest))
    return path


def muster_knows(option):
    try:
        r = subprocess.run([common.MUSTER, "help", "run"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        return option in r.stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


def render_from_csv(args):
    """--render: the .md and .png of an existing run CSV, without measuring."""
    path = os.path.abspath(args.render)
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            for k in ("wall_s", "ctl_cpu_s", "fleet_cpu_s", "bg_load", "max_rss_kib"):
                r[k] = float(r[k]) if r.get(k) not in (None, "") else None
            r["n"], r["ok"], r["rep"] = int(r["n"]), int(r["ok"]), int(r["rep"])
            rows.append(r)
    if not rows:
        die(f"{path}: no rows")
    seen = {r["tool"] for r in rows}
    args.sizes = sorted({r["n"] for r in rows})
    args.jobs = [j for j in JOBS if any(r["job"] == j for r in rows)]
    args.tools = [t for t in TOOLS if any(x in seen for x in TOOL_ROWS.get(t, [t]))]
    args.runs = max(r["rep"] for r in rows)
    subs = [int(r.get("sub") or 1) for r in rows if r["tool"] in ("muster-daemon", "mitogen-warm")]
    args.warm_calls = max(subs, default=WARM_CALLS)
    stamp = os.path.basename(path)[len("run-"):-len(".csv")] \
        if os.path.basename(path).startswith("run-") else "rendered"
    first = {}
    for r in rows:
        first.setdefault(r["tool"], r["command"])
    meta = {"stamp": stamp, "argv": ["(re-rendered from", os.path.relpath(path, REPO) + ")"],
            "host": platform.node(), "load": "?", "head": git_head(), "fleet_n": "?",
            "fleet_cpu": "the fleet cgroup (see the CSV)", "versions": versions(args.tools),
            "commands": {t: first.get(t, "?") for t in args.tools}}
    if "muster-daemon" in args.tools:
        meta["commands"]["muster-daemon"] = first.get("muster-daemon", "?")
        meta["commands"]["muster-daemon-start"] = first.get("muster-daemon-connect", "?")
    base = path[:-len(".csv")]
    if not args.no_chart:
        why = draw_chart(rows, args, base + ".png")
        if why:
            note("no chart: " + why)
        else:
            meta["chart"] = os.path.basename(base + ".png")
    md = render(rows, args, meta)
    with open(base + ".md", "w") as f:
        f.write(md)
    note(f"wrote {os.path.relpath(base + '.md', REPO)}")
    print(md)
    return 0


def main():
    args = parse_args()
    common.MUSTER = os.path.abspath(args.muster)
    if args.render:
        return render_from_csv(args)
    all_tools = args.tools + args.push_tools
    if os.geteuid() != 0:
        die("needs root: deploy/local-fleet runs as root, muster-cold clears the "
            "bench users' ~/.cache/muster and push empties their ~/" + PUSH_DIR +
            " (try: sudo bench/run-bench ...)")
    if any(t.startswith("muster") for t in all_tools) and not os.access(common.MUSTER, os.X_OK):
        die(f"{common.MUSTER} is missing: build it (cmake -S . -B build && cmake --build build) "
            "or leave muster out with --tools pdsh,pssh,clush,ssh-xargs (push: "
            "--tools pdcp,pscp,clush)")
    for tools, exes in ((args.tools, (("pdsh", "pdsh"), ("pssh", "parallel-ssh"),
                                      ("clush", "clush"), ("ssh-xargs", "xargs"))),
                        (args.push_tools, (("pdcp", "pdcp"), ("pscp", "parallel-scp"),
                                           ("clush", "clush"))),
                        (args.tools, (("ansible", "ansible"),))):
        for t, exe in exes:
            if t in tools and shutil.which(exe) is None:
                die(f"{exe} not found (deploy/install-deps installs it)")
    if "mitogen" in args.tools and subprocess.run(
            [SYS_PYTHON, "-c", "import mitogen.master"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode != 0:
        die(f"{SYS_PYTHON} cannot import mitogen (Debian package python3-mitogen; "
            "deploy/install-deps installs it)")
    if any(t.startswith("muster") for t in all_tools):
        common.NO_DAEMON_OPT = muster_knows("--no-daemon")
        if "muster-daemon" in args.tools and not muster_knows("daemon"):
            die(f"{common.MUSTER} has no `muster daemon`: leave muster-daemon out of --tools")
    if args.runs < 3:
        note(f"warning: --runs {args.runs}: fewer than 3 runs, for trying the script "
             "out only")

    if GNU_TIME is None:
        note("warning: /usr/bin/time missing (Debian package `time`): no max RSS column")
    sizes = set(args.sizes if args.jobs else []) | {c["n"] for c in args.push_cases}
    need = max(sizes)
    fleet_up(need)
    hosts = fleet_hosts()
    if len(hosts) < need:
        die(f"fleet inventory has {len(hosts)} hosts, need {need}")
    pids = listener_pids()
    if len(pids) < need:
        die(f"only {len(pids)} live sshd listeners in {FLEET_DIR}/hosts")
    fleet = Fleet(pids)
    note(f"fleet CPU from {fleet.how}")
    common.CTL = CtlGroup()
    if common.CTL.dir is None:
        common.CTL = None
        if "ansible" in args.tools:
            note("warning: no controller cgroup: ansible's ctl CPU misses its "
                 "ControlPersist masters")
    if "ansible" in args.tools:
        make_ansible_cfg()

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = os.path.join(WORK_DIR, "out")
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    files = {n: make_size_files(hosts, n) for n in sorted(sizes)}
    meta = {
        "stamp": stamp, "argv": sys.argv[1:], "host": platform.node(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()), "head": git_head(),
        "fleet_n": len(pids), "fleet_cpu": fleet.how, "versions": versions(args.tools),
        "push_versions": versions(args.push_tools), "commands": {}, "push_commands": {},
    }
    placeholders = {"inv": "INV_N", "hosts": "HOSTS_N", "addrs": "ADDRS_N",
                    "ans_inv": "ANSIBLE_INV_N", "ans_cfg": os.path.join(ANS_DIR, "ansible.cfg")}
    for t in args.tools:
        argv, env = tool_command(t, "N", "CMD", placeholders)
        meta["commands"][t] = shown_command(argv, env)
        if t == "muster-daemon":
            meta["commands"]["muster-daemon-start"] = shown_command(
                [common.MUSTER, "daemon", "-i", "INV_N", "--known-hosts",
                 os.path.join(FLEET_DIR, "known_hosts"), "-k", KEY, "-F", "/dev/null"],
                {"MUSTER_DAEMON_SOCKET": DAEMON_SOCK})
    for t in args.push_tools:
        meta["push_commands"][t] = shown_command(*push_command(t, "N", "SRC", placeholders))

    progress = Progress(args.runs * (len(args.sizes) * len(args.jobs) * len(row_tools(args.tools)) +
                                     len(args.push_cases) * len(args.push_tools)))
    reports, wrote, all_ok = [], [], True
    for kind, enabled, fields, runner, renderer, latest in (
            ("run", bool(args.jobs), CSV_FIELDS, run_exec_jobs, render, "latest.md"),
            ("push", args.push, PUSH_CSV_FIELDS, run_push_jobs, render_push,
             "latest-push.md")):
        if not enabled:
            continue
        rec = Recorder(os.path.join(RESULTS, f"{kind}-{stamp}.csv"), fields)
        try:
            runner(args, hosts, fleet, files, stamp, out_dir, rec, progress)
        finally:
            rec.close()
        if kind == "run" and not args.no_chart:
            png = os.path.join(RESULTS, f"run-{stamp}.png")
            why = draw_chart(rec.rows, args, png)
            if why:
                note("no chart: " + why)
            else:
                meta["chart"] = os.path.basename(png)
                shutil.copyfile(png, os.path.join(RESULTS, "latest.png"))
                wrote.append(png)
        md = renderer(rec.rows, args, meta)
        md_path = write_report(md, f"{kind}-{stamp}.md", latest)
        wrote += [rec.path, md_path, os.path.join(RESULTS, latest)]
        reports.append(md)
        all_ok = all_ok and all(r["ok"] for r in rec.rows)
    note("wrote " + ", ".join(os.path.relpath(p, REPO) for p in wrote))
    if common.CTL:
        common.CTL.release()
    if args.down:
        fleet_down()
        fleet.release()
    else:
        note(f"bench fleet left running (bench/run-bench --down, or "
             f"MUSTER_FLEET_DIR=bench/.fleet deploy/local-fleet down)")
    print("\n".join(reports))
    return 0 if all_ok else 1

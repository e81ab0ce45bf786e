"""Command line of bench/run-bench: the options, their checks and --help.
"""

import argparse
import re

from runbench import common
from runbench.common import JOBS, PUSH_CASES, PUSH_JOB, PUSH_TOOLS, TOOLS, WARM_CALLS

HELP_EPILOG = """\
What it does, in one run on one fleet:
  1. Starts (or reuses) the bench fleet: N = max(--sizes) real sshd on
     127.0.4.1..N:22, users mbench<i>, state in bench/.fleet, by
       MUSTER_FLEET_DIR=bench/.fleet deploy/local-fleet up N --net 127.0.4 \\
         --user-prefix mbench --no-user-known-hosts
     (if the fleet already has more hosts, it keeps them).
  2. For each size N, each job and each repetition, runs every tool once
     (rep 1: all tools, rep 2: all tools, ...), so background noise hits
     all tools alike:
       muster-cold  rm -rf ~mbench<i>/.cache/muster on the N hosts, then
                    build/bin/muster run -i INV_N --known-hosts KH
                      -k keys/id_ed25519 -F /dev/null -- CMD
       muster-warm  the same command right after (agent cached on the hosts;
                    still one fresh SSH connection per host); both --no-daemon
       muster-daemon  MUSTER_DAEMON_SOCKET=bench/.work/daemon.sock
                    muster daemon -i INV_N (same -k/--known-hosts/-F), until
                    --status --json shows N ready (row muster-daemon-connect),
                    then --warm-calls timed `muster run ... -- CMD` through it
                    (rows muster-daemon; ctl CPU = CLI + daemon's CPU delta),
                    then muster daemon --stop
       pdsh         PDSH_SSH_ARGS='-F CFG -x %h' pdsh -R ssh -f 64 -w ^ADDRS_N CMD
       pssh         parallel-ssh -h HOSTS_N -p 64 -t 0 -x '-F CFG' -i CMD
       clush        clush -f 64 --nostdin -w 127.0.4.[1-N] -o '-F CFG' CMD
       ssh-xargs    xargs -a HOSTS_N -P 64 -I{} ssh -F CFG -n {} CMD
       ansible      ANSIBLE_CONFIG=bench/.work/ans/ansible.cfg ansible all
                      -i ANSIBLE_INV_N -m command -a CMD -f 64 -o
                    cold: ControlPersist masters stopped before and after
       mitogen      /usr/bin/python3 bench/mitogen_warm.py: N contexts
                    (row mitogen-connect), then --warm-calls fleet-wide
                    call_async(subprocess.call, ['true']) (rows mitogen-warm)
     INV_N = first N hosts of the fleet inventory, HOSTS_N = user@addr
     lines, ADDRS_N = addresses only (bench/.work/).  CFG is the fleet's
     ssh_config: per-host User, keys/id_ed25519, StrictHostKeyChecking yes
     against the fleet known_hosts, BatchMode yes.
  3. Checks each run (exit status, and for uname one output line per host;
     pdsh exits 0 even when ssh fails, so its stderr is checked too) and
     records ok/failed.  Timings of failed runs are kept in the CSV but left
     out of the medians.
  4. Writes bench/results/run-<timestamp>.csv (one row per run) and
     run-<timestamp>.md (a table per job and N, medians, ratios against pdsh
     and mitogen-warm, issue 5's targets), a gnuplot chart run-<timestamp>.png
     linked from it, copies them to bench/results/latest.{md,png} and prints
     the .md.  Tool outputs of the last run of
     each kind are in bench/.work/out/.

Measured per run:
  wall       time.monotonic() around start..exit of the tool
  ctl CPU    user+sys of the tool's whole process tree (os.wait4 rusage: the
             tool plus every descendant it waited for)
  max RSS    ru_maxrss of the tool's tree as GNU /usr/bin/time reports it
             (%M): the largest single process.  The tool is started through
             /usr/bin/time because ru_maxrss keeps the pre-exec high-water
             mark, so anything forked straight from this python script would
             show python's RSS (~14 MiB); without /usr/bin/time (Debian
             package `time`) the column shows "—"
  fleet CPU  CPU of the cgroup muster-bench-fleet (cgroup v1 cpuacct.usage,
             else cgroup2 cpu.stat), after minus before: the bench sshd
             listeners (bench/.fleet/hosts/*/sshd.pid) are moved into it and
             every process they fork inherits it.  The script waits until the
             listeners have no children left before reading "after".  Without
             a cgroup: the listeners' utime+stime+cutime+cstime, which misses
             the CPU of every sshd post-auth child the privsep monitor does
             not reap (the session's crypto, sftp-server, scp, remote commands)
  bg load    machine busy CPU (/proc/stat) minus ctl and fleet CPU, divided by
             wall: how many cores other work took during the run

--jobs push (file distribution; may be combined with true/uname, its results
go to their own files):
  For each case SIZE@N of --push-cases (default 64M@20,1M@100) a random file
  bench/.work/push/SIZE/f is made, the agents are warmed once (untimed
  `muster run -i INV_N ... -- true`), then each repetition runs, in order:
       muster            build/bin/muster push -i INV_N --known-hosts KH
                           -k keys/id_ed25519 -F /dev/null --no-progress
                           SRC pushbench/f
       muster-unchanged  the same command again right after (every host
                         already has the file: nothing to send)
       pdcp              PDSH_SSH_ARGS='-F CFG -x %h' pdcp -R ssh -f 64
                           -w ^ADDRS_N SRC pushbench/f
       pscp              parallel-scp -h HOSTS_N -p 64 -t 0 -x '-F CFG'
                           SRC pushbench/f
       clush             clush -f 64 --nostdin -w 127.0.4.[1-N] -o '-F CFG'
                           --copy SRC --dest pushbench
  pushbench/f is relative to each bench user's home.  Before every run but
  muster-unchanged, ~mbench<i>/pushbench is emptied (as root) on the N hosts
  and sync(2) is called, so every tool really copies.  After every run the
  size of pushbench/f is checked on all N hosts and its sha256 on 3 random
  ones; a mismatch marks the run failed.  Extra column: aggregate MiB/s =
  size x N / wall.  Ratios are against muster.  Writes
  bench/results/push-<timestamp>.csv and .md (and latest-push.md).

No timing is ever asserted; the exit status is 0 when every run was ok, 1 when
some run failed, 2 on a usage or setup error.
"""


UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(s):
    """'64M' -> bytes (K, M, G are binary); None if malformed."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", s, re.IGNORECASE)
    return int(m.group(1)) * UNITS[m.group(2).upper()] if m else None


def size_label(nbytes):
    for unit, mult in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= mult and nbytes % mult == 0:
            return f"{nbytes // mult} {unit}"
    return f"{nbytes} B"


def parse_args():
    p = argparse.ArgumentParser(
        prog="bench/run-bench",
        description="Fleet-wide command benchmark: muster (cold and warm agent "
        "cache) against pdsh, pssh, clush and ssh+xargs, and (--jobs push) file "
        "distribution: muster push against pdcp, parallel-scp and clush --copy; "
        "on one local fleet of real sshd on loopback. Needs root "
        "(deploy/local-fleet, clearing the bench users' agent caches and push "
        "destinations).",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10,50", metavar="N,N,...",
                   help="fleet sizes for the jobs true and uname (default "
                   "10,50); the fleet is started with the largest size needed")
    p.add_argument("--runs", type=int, default=3, metavar="R",
                   help="repetitions per size, job and tool (default 3; fewer "
                   "than 3 only for trying the script out, the report says so)")
    p.add_argument("--warm-calls", type=int, default=WARM_CALLS, metavar="K",
                   help="timed fleet-wide calls per repetition for muster-daemon "
                   f"and mitogen (default {WARM_CALLS}); each is one row")
    p.add_argument("--no-chart", action="store_true",
                   help="do not draw the PNG chart (gnuplot)")
    p.add_argument("--jobs", default="true,uname", metavar="JOB,...",
                   help="jobs to run: true (the command `true`), uname "
                   "(`uname -a`), push (file distribution, see below) "
                   "(default true,uname)")
    p.add_argument("--push-cases", default=PUSH_CASES, metavar="SIZE@N,...",
                   help="for --jobs push: file size (K, M, G = KiB, MiB, GiB) "
                   f"and host count of each case (default {PUSH_CASES})")
    p.add_argument("--tools", default=None, metavar="TOOL,...",
                   help="tools to run (default all): for true/uname of " +
                   ", ".join(TOOLS) + " (muster-warm needs muster-cold); for "
                   "push of " + ", ".join(PUSH_TOOLS) +
                   " (muster-unchanged needs muster); each job runs the "
                   "listed tools it knows")
    p.add_argument("--muster", default=common.MUSTER, metavar="PATH",
                   help="the muster binary to measure (default build/bin/muster; "
                   "its muster-agent is found next to it)")
    p.add_argument("--timeout", type=float, default=600, metavar="S",
                   help="kill a tool run (its process group) after S seconds "
                   "and count it failed (default 600)")
    p.add_argument("--down", action="store_true",
                   help="stop the bench fleet at the end (default: leave it running)")
    p.add_argument("--render", metavar="RUN.csv",
                   help="measure nothing: write RUN.md and RUN.png again from a "
                   "run-<timestamp>.csv (also one a run left half-written); "
                   "sizes, jobs and tools are taken from the CSV")
    a = p.parse_args()
    if a.render:
        return a
    try:
        a.sizes = sorted({int(s) for s in a.sizes.split(",") if s.strip()})
    except ValueError:
        p.error("--sizes: expected numbers like 10,50,100")
    if not a.sizes or min(a.sizes) < 1 or max(a.sizes) > 250:
        p.error("--sizes: each size must be 1..250")
    if a.runs < 1:
        p.error("--runs: at least 1 (and 3 for numbers worth reporting)")
    if a.warm_calls < 1:
        p.error("--warm-calls: at least 1")
    jobs = [j.strip() for j in a.jobs.split(",") if j.strip()]
    for j in jobs:
        if j not in JOBS and j != PUSH_JOB:
            p.error(f"--jobs: unknown job '{j}' (known: {', '.join(JOBS)}, {PUSH_JOB})")
    a.jobs = [j for j in jobs if j in JOBS]  # the fleet-wide command jobs
    a.push = PUSH_JOB in jobs
    if not a.jobs and not a.push:
        p.error("nothing to run")
    known = TOOLS + [t for t in PUSH_TOOLS if t not in TOOLS]
    tools = known if a.tools is None else \
        [t.strip() for t in a.tools.split(",") if t.strip()]
    for t in tools:
        if t not in known:
            p.error(f"--tools: unknown tool '{t}' (known: {', '.join(known)})")
    # fixed orders: cold, warm, ...; muster, muster-unchanged, ...
    a.tools = [t for t in TOOLS if t in tools] if a.jobs else []
    a.push_tools = [t for t in PUSH_TOOLS if t in tools] if a.push else []
    if a.jobs and not a.tools:
        p.error("--tools: no tool for the jobs " + ",".join(a.jobs) +
                " (known: " + ", ".join(TOOLS) + ")")
    if a.push and not a.push_tools:
        p.error("--tools: no tool for --jobs push (known: " + ", ".join(PUSH_TOOLS) + ")")
    if "muster-warm" in a.tools and "muster-cold" not in a.tools:
        p.error("--tools: muster-warm needs muster-cold (it runs right after it)")
    if "muster-unchanged" in a.push_tools and "muster" not in a.push_tools:
        p.error("--tools: muster-unchanged needs muster (it runs right after it)")
    cases = []
    for c in (a.push_cases.split(",") if a.push else []):
        c = c.strip()
        if not c:
            continue
        size, sep, n = c.partition("@")
        nbytes = parse_size(size)
        if not sep or nbytes is None or not n.isdigit() or not 1 <= int(n) <= 250:
            p.error(f"--push-cases: '{c}' is not SIZE@N (like 64M@20, N 1..250)")
        cases.append({"key": size.strip(), "bytes": nbytes, "n": int(n),
                      "label": size_label(nbytes)})
    if a.push and not cases:
        p.error("--push-cases: no case")
    a.push_cases = cases
    if a.timeout <= 0:
        p.error("--timeout must be positive")
    return a

"""Shared state of bench/run-bench: paths (REPO, RESULTS, the bench fleet's
directories), the fleet's addresses and users, the jobs and tools, and the
three values main() sets (MUSTER, NO_DAEMON_OPT, CTL; read them as
common.X, never import them by name: they change after import).
"""

import os
import sys


BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)
FLEET_DIR = os.path.join(BENCH, ".fleet")
WORK_DIR = os.path.join(BENCH, ".work")
RESULTS = os.path.join(BENCH, "results")
LOCAL_FLEET = os.path.join(REPO, "deploy", "local-fleet")
MUSTER = os.path.join(REPO, "build", "bin", "muster")
NO_DAEMON_OPT = True  # this muster knows --no-daemon (checked in main)
KEY = os.path.join(REPO, "keys", "id_ed25519")
NET = "127.0.4"
USER_PREFIX = "mbench"
FANOUT = 64  # for the anchor tools, as in the anchor baseline

JOBS = {"true": ["true"], "uname": ["uname", "-a"]}  # fleet-wide commands
TOOLS = ["muster-cold", "muster-warm", "muster-daemon", "pdsh", "pssh", "clush",
         "ssh-xargs", "ansible", "mitogen"]
# tools that give more than one table row: a connect phase and warm calls
TOOL_ROWS = {"muster-daemon": ["muster-daemon-connect", "muster-daemon"],
             "mitogen": ["mitogen-connect", "mitogen-warm"]}
WARM_CALLS = 5                 # timed calls per repetition of the warm tools
DAEMON_SOCK = os.path.join(WORK_DIR, "daemon.sock")
ANS_DIR = os.path.join(WORK_DIR, "ans")
MITOGEN_HELPER = os.path.join(BENCH, "mitogen_warm.py")
SYS_PYTHON = "/usr/bin/python3"   # Debian's python3-mitogen lives there
# --jobs push: file distribution, its own cases, tools and result files
PUSH_JOB = "push"
PUSH_TOOLS = ["muster", "muster-unchanged", "pdcp", "pscp", "clush"]
PUSH_CASES = "64M@20,1M@100"
PUSH_DIR = "pushbench"         # in each bench user's home
PUSH_DEST = PUSH_DIR + "/f"    # relative: every tool resolves it in the home
PUSH_SAMPLE = 3                # hosts whose copy is hashed after each run
CLK_TCK = os.sysconf("SC_CLK_TCK")
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def die(msg, code=2):
    print(f"run-bench: {msg}", file=sys.stderr)
    sys.exit(code)


def note(msg):
    print(f"run-bench: {msg}", file=sys.stderr, flush=True)


CTL = None  # the CtlGroup, made in main()

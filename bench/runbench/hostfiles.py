"""Per-N files: inventories, host and address lists, the ansible files, and
stopping ansible's ControlPersist masters.
"""

import os
import signal
import subprocess
import time

from runbench import common
from runbench.common import ANS_DIR, FLEET_DIR, NET, WORK_DIR


def write_lines(path, lines):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.writelines(line + "\n" for line in lines)
    os.replace(tmp, path)


def make_size_files(hosts, n):
    d = os.path.join(WORK_DIR, f"n{n}")
    os.makedirs(d, exist_ok=True)
    sub = hosts[:n]
    files = {
        "inv": os.path.join(d, "inventory"),
        "hosts": os.path.join(d, "hosts.txt"),
        "addrs": os.path.join(d, "addrs.txt"),
    }
    write_lines(files["inv"],
                [f"# bench: first {n} hosts of {FLEET_DIR}/inventory", "[fleet]"] +
                [f"{a} user={u}" for a, u in sub])
    write_lines(files["hosts"], [f"{u}@{a}" for a, u in sub])
    write_lines(files["addrs"], [a for a, _ in sub])
    files["ans_inv"] = os.path.join(d, "ansible.ini")
    files["ans_cfg"] = os.path.join(ANS_DIR, "ansible.cfg")
    write_lines(files["ans_inv"],
                [f"# bench: first {n} hosts of {FLEET_DIR}/inventory", "[fleet]"] +
                [f"{a} ansible_user={u}" for a, u in sub] +
                ["", "[fleet:vars]", "ansible_python_interpreter=/usr/bin/python3"])
    return files


def make_ansible_cfg():
    """bench/.work/ans/ansible.cfg as the anchors' ans/ansible-cp.cfg: forks 64,
    host keys checked, ssh through the fleet's ssh_config with ControlPersist
    (no -C: compression off), no pipelining; every ansible dir under ANS_DIR."""
    for sub in ("cp", "tmp", "home"):
        os.makedirs(os.path.join(ANS_DIR, sub), exist_ok=True)
    cfg = os.path.join(FLEET_DIR, "ssh_config")
    write_lines(os.path.join(ANS_DIR, "ansible.cfg"), [
        "# written by bench/run-bench (anchors: ans/ansible-cp.cfg)",
        "[defaults]",
        "forks = 64",
        "host_key_checking = True",
        "interpreter_python = /usr/bin/python3",
        f"home = {ANS_DIR}/home",
        f"local_tmp = {ANS_DIR}/tmp",
        "gathering = explicit",
        "retry_files_enabled = False",
        "nocows = 1",
        "",
        "[ssh_connection]",
        f"ssh_args = -F {cfg} -o ControlMaster=auto -o ControlPersist=600s",
        f"control_path = {ANS_DIR}/cp/%%h-%%r",
        "pipelining = False",
    ])


def stop_ansible_masters():
    """`ssh -O exit` on every ControlPersist master's socket (the anchors'
    ans/stop-masters.sh), then SIGTERM whatever is left in the controller
    cgroup (only processes the measured tool started are there)."""
    cp = os.path.join(ANS_DIR, "cp")
    socks = [os.path.join(cp, x) for x in os.listdir(cp)] if os.path.isdir(cp) else []
    procs = [subprocess.Popen(["ssh", "-F", "/dev/null", "-S", sk, "-O", "exit", "x"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for sk in socks]
    for pr in procs:
        pr.wait()
    deadline = time.monotonic() + 5
    while common.CTL and common.CTL.procs() and time.monotonic() < deadline:
        for pid in common.CTL.procs():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    for sk in socks:
        try:
            os.unlink(sk)
        except OSError:
            pass


def nodeset(n):
    return f"{NET}.1" if n == 1 else f"{NET}.[1-{n}]"

"""--jobs push (file distribution): command lines, the random source file,
emptying and verifying the destinations, checking the output, and the
push job loop.
"""

import hashlib
import os
import pwd
import random
import re
import shutil
import stat
import subprocess

from runbench import common
from runbench.common import (DAEMON_SOCK, die, FANOUT, FLEET_DIR, KEY, note, PUSH_DEST,
                             PUSH_DIR, PUSH_SAMPLE, REPO, WORK_DIR)
from runbench.hostfiles import nodeset
from runbench.tools import read_text, show_command
from runbench.record import measure, now_iso


def push_command(tool, n, src, files):
    """argv, env of one push run: SRC to PUSH_DEST in every user's home."""
    cfg = os.path.join(FLEET_DIR, "ssh_config")
    kh = os.path.join(FLEET_DIR, "known_hosts")
    env = None
    if tool in ("muster", "muster-unchanged"):
        env = dict(os.environ, MUSTER_DAEMON_SOCKET=DAEMON_SOCK)  # direct, as before
        argv = [common.MUSTER, "push", "-i", files["inv"], "--known-hosts", kh, "-k", KEY,
                "-F", "/dev/null", "--no-progress"] + \
            (["--no-daemon"] if common.NO_DAEMON_OPT else []) + [src, PUSH_DEST]
    elif tool == "pdcp":
        env = dict(os.environ, PDSH_SSH_ARGS=f"-F {cfg} -x %h")  # as pdsh, see there
        argv = ["pdcp", "-R", "ssh", "-f", str(FANOUT), "-w", "^" + files["addrs"],
                src, PUSH_DEST]
    elif tool == "pscp":
        argv = ["parallel-scp", "-h", files["hosts"], "-p", str(FANOUT), "-t", "0",
                "-x", f"-F {cfg}", src, PUSH_DEST]
    elif tool == "clush":
        # --dest is a directory: the copy keeps SRC's base name, which is "f"
        argv = ["clush", "-f", str(FANOUT), "--nostdin", "-w", nodeset(n),
                "-o", f"-F {cfg}", "--copy", src, "--dest", PUSH_DIR]
    else:
        raise ValueError(tool)
    return argv, env


def make_push_source(case):
    """A fresh random file bench/.work/push/<key>/f; returns (path, sha256 hex)."""
    d = os.path.join(WORK_DIR, "push", case["key"])
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "f")  # base name "f": clush --copy keeps it
    h = hashlib.sha256()
    left = case["bytes"]
    with open(path + ".tmp", "wb") as f:
        while left > 0:
            b = os.urandom(min(left, 1 << 20))
            h.update(b)
            f.write(b)
            left -= len(b)
    os.chmod(path + ".tmp", 0o644)
    os.replace(path + ".tmp", path)
    return path, h.hexdigest()


def user_homes(hosts, n):
    """[(addr, passwd entry)] of the first n hosts."""
    out = []
    for addr, user in hosts[:n]:
        try:
            out.append((addr, pwd.getpwnam(user)))
        except KeyError:
            die(f"no user {user}")
    return out


def clear_push_dest(homes):
    """Empty ~/PUSH_DIR on every host (made if missing, owned by the host's
    user), then sync so no write-back of the previous run lands in the next."""
    for _, pw in homes:
        d = os.path.join(pw.pw_dir, PUSH_DIR)
        if os.path.lexists(d) and (os.path.islink(d) or not os.path.isdir(d)):
            os.unlink(d)  # e.g. a file a failed copy left in its place
        if os.path.isdir(d):
            for e in os.scandir(d):
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path)
                else:
                    os.unlink(e.path)
        else:
            os.mkdir(d, 0o755)
        os.chown(d, pw.pw_uid, pw.pw_gid)
        os.chmod(d, 0o755)
    os.sync()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def verify_push(homes, nbytes, digest, rng):
    """(ok, note): PUSH_DEST has the right size on every host and the right
    sha256 on PUSH_SAMPLE random ones."""
    bad, extra = [], []
    for addr, pw in homes:
        path = os.path.join(pw.pw_dir, PUSH_DEST)
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                bad.append(f"{addr}: not a regular file")
            elif st.st_size != nbytes:
                bad.append(f"{addr}: {st.st_size} bytes")
            others = [x for x in os.listdir(os.path.dirname(path)) if x != "f"]
            if others:
                extra.append(f"{addr}: {others[0]}")
        except FileNotFoundError:
            bad.append(f"{addr}: missing")
        except OSError as e:
            bad.append(f"{addr}: {e.strerror}")
    if bad:
        return False, f"{len(bad)}/{len(homes)} hosts wrong: {bad[0]}"
    for addr, pw in rng.sample(homes, min(PUSH_SAMPLE, len(homes))):
        if file_sha256(os.path.join(pw.pw_dir, PUSH_DEST)) != digest:
            return False, f"{addr}: sha256 differs from the source"
    if extra:
        return True, f"{len(extra)} hosts have extra files in ~/{PUSH_DIR} ({extra[0]})"
    return True, ""


MUSTER_PUSH_SUMMARY = re.compile(r"(\d+) hosts?: (\d+) changed, (\d+) unchanged, "
                                 r"(\d+) failed, (\d+) unreachable")
MUSTER_PUSH_HOST = re.compile(r"^\S+: \S+ \(\d+ of \d+ entries changed, (\d+) bytes sent\)$",
                              re.MULTILINE)


def check_push(tool, n, nbytes, m, out_path, err_path):
    """(ok, note) from the tool's exit status and output (the files are
    checked by verify_push)."""
    if m["timed_out"]:
        return False, "timed out"
    out = read_text(out_path)
    err = read_text(err_path)
    first_err = next((ln.strip() for ln in err.splitlines() if ln.strip()), "") or \
        next((ln.strip() for ln in out.splitlines() if "[FAILURE]" in ln), "")
    if m["rc"] != 0:
        return False, f"exit {m['rc']}: {first_err}"[:200]
    if tool.startswith("muster"):
        mm = MUSTER_PUSH_SUMMARY.search(err)
        if not mm:
            return False, "no summary line on stderr"
        want = 2 if tool == "muster" else 3  # changed / unchanged count
        if int(mm.group(1)) != n or int(mm.group(want)) != n:
            return False, f"summary says {mm.group(0)}, expected {n} " + \
                ("changed" if want == 2 else "unchanged")
        sent = [int(x) for x in MUSTER_PUSH_HOST.findall(out)]
        expect = nbytes * n if tool == "muster" else 0
        if len(sent) != n or sum(sent) != expect:
            return False, f"{len(sent)} host lines, {sum(sent)} bytes sent, expected " \
                f"{n} lines and {expect} bytes"
    elif tool == "pdcp":
        # pdcp exits 0 even when a host fails
        bad = [ln for ln in err.splitlines() if "exited with exit code" in ln or
               "Permission denied" in ln or "fatal:" in ln]
        if bad:
            return False, f"{len(bad)} host error(s): {bad[0].strip()}"[:200]
    elif tool == "pscp":
        okc = sum(1 for ln in out.splitlines() if "[SUCCESS]" in ln)
        if okc != n:
            return False, f"{okc}/{n} [SUCCESS]"
    elif tool == "clush":
        bad = [ln for ln in err.splitlines() if "exited with exit code" in ln]
        if bad:
            return False, f"{len(bad)} host error(s): {bad[0].strip()}"[:200]
    return True, ""


def warm_agents(files, out_dir, timeout):
    """Untimed `muster run ... -- true` so the push runs find the agent
    cached. Returns "" or what went wrong."""
    kh = os.path.join(FLEET_DIR, "known_hosts")
    argv = [common.MUSTER, "run", "-i", files["inv"], "--known-hosts", kh, "-k", KEY,
            "-F", "/dev/null", "--", "true"]
    base = os.path.join(out_dir, "push-warmup")
    with open(base + ".out", "wb") as out, open(base + ".err", "wb") as err:
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                               cwd=REPO, timeout=timeout,
                               env=dict(os.environ, MUSTER_DAEMON_SOCKET=DAEMON_SOCK))
        except subprocess.TimeoutExpired:
            return f"agent warm-up (muster run -- true) timed out, see {base}.err"
    if r.returncode != 0:
        return f"agent warm-up (muster run -- true) exited {r.returncode}, see {base}.err"
    return ""


def run_push_jobs(args, hosts, fleet, files, stamp, out_dir, rec, progress):
    rng = random.Random()
    for case in args.push_cases:
        n, nbytes = case["n"], case["bytes"]
        homes = user_homes(hosts, n)
        src, digest = make_push_source(case)
        note(f"push {case['label']} to {n} hosts: {os.path.relpath(src, REPO)} "
             f"sha256 {digest}")
        warm = ""
        if "muster" in args.push_tools:
            warm = warm_agents(files[n], out_dir, args.timeout)
            if warm:
                note("warning: " + warm)
        for rep in range(1, args.runs + 1):
            for tool in args.push_tools:
                if tool != "muster-unchanged":  # it must find muster's copies
                    clear_push_dest(homes)
                argv, env = push_command(tool, n, src, files[n])

                def check(m, out, err):
                    ok, why = check_push(tool, n, nbytes, m, out, err)
                    vok, vwhy = verify_push(homes, nbytes, digest, rng)
                    if not ok and warm and tool.startswith("muster"):
                        why += f" ({warm})"
                    return ok and vok, "; ".join(filter(None, [why, vwhy]))
                m, ok, why = measure(
                    argv, env, os.path.join(out_dir, f"push-{case['key']}-n{n}-{tool}"),
                    check, args, fleet, f"r{rep}-{stamp}")
                mib_s = None if tool == "muster-unchanged" or m["wall_s"] <= 0 else \
                    nbytes * n / m["wall_s"] / (1 << 20)
                rec.add(dict(m, timestamp=now_iso(), case=case["key"], size_bytes=nbytes,
                             n=n, rep=rep, tool=tool, ok=int(ok), mib_s=mib_s, note=why,
                             command=show_command(argv, env)))
                progress(f"{case['key']}@{n} rep {rep} {tool:<16}", m, ok, why)

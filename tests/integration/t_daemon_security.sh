#!/usr/bin/env bash
# The muster daemon's socket against hostile and buggy local clients
# (SECURITY.md, "Daemon socket"): another uid refused by SO_PEERCRED;
# garbage, oversized, truncated and unknown input gets that client dropped
# while another client's run goes on; a client cannot touch another's
# streams; too many clients are refused; and the socket path is never
# followed through a symlink, taken from another user, put in a directory
# others may write, or stolen from a live daemon.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
export MUSTER_DAEMON_SOCKET=$T/d/daemon.sock
# A client that owes bytes this long is dropped (30 s by default).
export MUSTER_DAEMON_STALL_TIMEOUT=2
LOG=$T/d/daemon.log
D=("${MUSTER_OPTS[@]}")
h1="$(fleet_user 1)@$(fleet_addr 1)"
h2="$(fleet_user 2)@$(fleet_addr 2)"

# A raw client: speaks the link framing (PROTOCOL.md 15.2) by hand.
cat >"$T/raw.py" <<'EOF'
import os, socket, struct, sys, time

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def fint(num, v): return varint(num << 3) + varint(v)
def fbytes(num, b):
    b = b.encode() if isinstance(b, str) else b
    return varint(num << 3 | 2) + varint(len(b)) + b
def control(msg): return struct.pack(">II", 0xFFFFFFFF, len(msg)) + msg
def envelope(host, stream, body_field, body):
    env = fint(1, stream) + fbytes(body_field, body)
    return struct.pack(">II", host, len(env)) + env
HELLO = control(fbytes(1, fint(1, 1) + fbytes(2, "0" * 64)))
# A hello that asks for status or stop only (ClientHello.control).
CONTROL_HELLO = control(fbytes(1, fint(1, 1) + fbytes(2, "0" * 64) + fint(3, 1)))
def attach(hid, spec):
    user, _, name = spec.rpartition("@")
    return control(fbytes(3, fint(1, hid) + fbytes(2, fbytes(1, name) + (fbytes(2, user) if user else b""))))

def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s

def closed_by_daemon(s, timeout=20):
    """True when the daemon ends the connection (EOF or reset)."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False

def send(s, data):
    try:
        s.sendall(data)
    except (ConnectionResetError, BrokenPipeError):
        pass

path, mode = sys.argv[1], sys.argv[2]
if mode == "clients":
    # Open clients until one is refused; print how many were served.
    want = int(sys.argv[3])
    held = []
    for i in range(want + 1):
        s = connect(path)
        send(s, HELLO)
        s.settimeout(10)
        try:
            data = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            data = b""
        if not data or b"all taken" in data:
            # Refused, with the reason in a DaemonHello. While all the
            # slots are held, run the command given (a muster run).
            print("served %d, then refused%s" % (i, " with a reason" if data else ""))
            if len(sys.argv) > 4:
                import subprocess
                p = subprocess.run(sys.argv[4:], capture_output=True, text=True)
                sys.stdout.write(p.stdout)
                sys.stderr.write(p.stderr)
                print("rc %d" % p.returncode)
            sys.exit(0)
        held.append(s)
    print("served %d, none refused" % len(held))
    sys.exit(0)

if mode == "idle":
    # Hold N clients that said hello and C status clients that said hello
    # but asked for nothing, all idle; run the shell commands given with a
    # timeout each ($CMD_TIMEOUT s); then wait up to $IDLE_WAIT s for the
    # daemon to close the idle ones.
    n, c = int(sys.argv[3]), int(sys.argv[4])
    held, refused = [], 0
    for i in range(n + c):
        s = connect(path)
        send(s, CONTROL_HELLO if i >= n else HELLO)
        s.settimeout(10)
        try:
            data = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            data = b""
        if not data or b"all taken" in data:
            refused += 1
            s.close()
            continue
        held.append(s)
    print("held %d, refused %d" % (len(held), refused))
    sys.stdout.flush()
    import subprocess
    for cmd in sys.argv[5:]:
        p = subprocess.run("timeout %s %s" % (os.environ.get("CMD_TIMEOUT", "10"), cmd),
                           shell=True, capture_output=True, text=True)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr)
        print("rc %d" % p.returncode)
        sys.stdout.flush()
    # One deadline for all: a daemon that never drops them fails fast.
    end = time.time() + float(os.environ.get("IDLE_WAIT", "30"))
    print("closed %d" % sum(closed_by_daemon(s, max(0.01, end - time.time())) for s in held))
    sys.exit(0)

s = connect(path)
if mode == "hello-only":
    send(s, HELLO)
elif mode == "garbage":
    send(s, HELLO + b"\xde\xad\xbe\xef" * 4 + bytes(range(256)))
elif mode == "garbage-control":
    send(s, HELLO + struct.pack(">II", 0xFFFFFFFF, 8) + b"\xff" * 8)
elif mode == "oversized":
    send(s, HELLO + struct.pack(">II", 1, 0x7FFFFFFF))
elif mode == "big-control":
    # Under the link's 8 MiB control limit but over the client buffer:
    # the daemon must refuse it, not wait for it with a full buffer.
    send(s, HELLO + struct.pack(">II", 0xFFFFFFFF, 3 << 20) + b"\0" * (3 << 20))
elif mode == "truncated":
    frame = attach(1, sys.argv[3])
    send(s, HELLO + frame[: len(frame) // 2])
elif mode == "no-hello":
    pass
elif mode == "unknown-control":
    send(s, HELLO + control(fbytes(15, b"")))
elif mode == "foreign-streams":
    # Attach the host another client runs on, then cancel, credit and
    # feed every stream id a client would use: all of them are ours only.
    msgs = HELLO + attach(1, sys.argv[3])
    for sid in range(1, 64, 2):
        msgs += envelope(1, sid, 8, b"")                       # Cancel
        msgs += envelope(1, sid, 6, fint(1, 1000))             # Credit
        msgs += envelope(1, sid, 4, fint(1, 0) + fbytes(2, "x"))  # Data
    send(s, msgs)
    time.sleep(0.5)
    print("sent")
    sys.exit(0)
print("closed" if closed_by_daemon(s) else "still open")
EOF
raw() { "$PY" "$T/raw.py" "$MUSTER_DAEMON_SOCKET" "$@"; }
# Wait for a line matching ERE $1 in the daemon's log after line $2.
log_wait() {
	local _
	for _ in $(seq $((600 * SLOW))); do
		tail -n +"$(($2 + 1))" "$LOG" | grep -qE "$1" && return 0
		sleep 0.1
	done
	fail "the daemon's log has no line matching '$1' after line $2:"$'\n'"$(tail -n 20 "$LOG")"
}
log_lines() { wc -l <"$LOG"; }
daemon_alive() {
	"$MUSTER" daemon --status >/dev/null 2>&1 || fail "the daemon stopped answering ($1)"
}

"$MUSTER" daemon "${D[@]}" -w "$h1,$h2" >/dev/null
at_exit '"$MUSTER" daemon --stop >/dev/null 2>&1'
for _ in $(seq $((300 * SLOW))); do
	n=$("$MUSTER" daemon --status --json | "$PY" -c 'import json,sys; print(sum(h["state"]=="ready" for h in json.load(sys.stdin)["hosts"]))')
	((n == 2)) && break
	sleep 0.2
done
assert_eq 2 "$n" "hosts ready in the daemon"

# --- another uid --------------------------------------------------------------
# Put the socket within another user's reach (as a careless chmod would):
# the uid check alone must keep them out.
ouid=$(id -u "$(fleet_user 3)")
ogid=$(id -g "$(fleet_user 3)")
chmod 711 "$T" "$T/d"
chmod 666 "$MUSTER_DAEMON_SOCKET"
at_exit "chmod 600 '$MUSTER_DAEMON_SOCKET' 2>/dev/null"
l=$(log_lines)
out=$(setpriv --reuid="$ouid" --regid="$ogid" --clear-groups "$PY" "$T/raw.py" "$MUSTER_DAEMON_SOCKET" hello-only)
assert_eq closed "$out" "another uid's connection is closed"
log_wait "refused a client of uid $ouid \(pid [0-9]+\): not our user" "$l"
chmod 600 "$MUSTER_DAEMON_SOCKET"
chmod 700 "$T" "$T/d"
out=$("$MUSTER" run "${D[@]}" -w "$h1" -- echo still-serving 2>/dev/null)
assert_eq "$(fleet_addr 1): still-serving" "$out" "a run after the refusal"
ok "another uid is refused by SO_PEERCRED (logged), the daemon keeps serving"

# --- hostile clients while another client runs ---------------------------------
"$MUSTER" run "${D[@]}" -v -w "$h1,$h2" -- 'sleep 4; echo survived' >"$T/long" 2>"$T/long.err" &
long=$!
# The run's streams are open before the hostile clients come.
for _ in $(seq $((600 * SLOW))); do
	s=$("$MUSTER" daemon --status --json | "$PY" -c 'import json,sys; print(sum(h["streams"] for h in json.load(sys.stdin)["hosts"]))')
	((s >= 2)) && break
	sleep 0.1
done
((s >= 2)) || fail "the long run's streams never opened"

check_drop() {	# MODE EXPECTED-LOG-REASON [ARG]
	local l out
	l=$(log_lines)
	out=$(raw "$1" "${3:-}")
	assert_eq closed "$out" "client sending $1 is disconnected"
	log_wait "client dropped: $2" "$l"
	daemon_alive "$1"
}
check_drop garbage 'frame for a host never attached|undecodable frame|oversized frame'
check_drop garbage-control 'bad control message'
check_drop oversized 'oversized frame'
check_drop big-control 'oversized frame'
check_drop unknown-control 'unexpected control message'
check_drop truncated 'stalled in the middle of a frame' "$h1"
check_drop no-hello 'no hello'
# Another client's stream ids are its own: cancelling "all of them" from
# here cancels nothing of the run's.
out=$(raw foreign-streams "$h1")
assert_eq sent "$out" "foreign-streams client"
rc=0
wait "$long" || rc=$?
assert_eq 0 "$rc" "the long run's exit status"
assert_contains "$(cat "$T/long.err")" "using the daemon" "the long run went through the daemon"
assert_eq 2 "$(grep -c ': survived$' "$T/long")" "the long run's output on both hosts"
ok "garbage, oversized, truncated, stalled and unknown input drops that client only; another client's streams are untouched"

# --- too many clients -------------------------------------------------------------
l=$(log_lines)
out=$(raw clients 200 "$MUSTER" run "${D[@]}" -v -w "$h1" -- echo direct 2>"$T/full.err")
assert_eq "served 64, then refused with a reason
$(fleet_addr 1): direct
rc 0" "$out" "clients at once; a run meanwhile goes direct"
assert_contains "$(cat "$T/full.err")" "refused this client: it serves 64 clients at once, all taken; connecting directly" "the run says why it went direct"
log_wait 'refused a client \(pid [0-9]+\): 64 clients already connected' "$l"
out=$("$MUSTER" run "${D[@]}" -v -w "$h1" -- echo after 2>"$T/after.err")
assert_eq "$(fleet_addr 1): after" "$out" "a run once the clients are gone"
assert_contains "$(cat "$T/after.err")" "using the daemon" "that run used the daemon"
ok "the 65th client at once is refused (logged); slots come back"

# --- idle clients do not lock the operator out ----------------------------------
# 64 clients that said hello and then do nothing, 6 status clients that
# asked for nothing: --status and --stop still get in at once (a slot kept
# for them), a 65th client is still refused, and the idle ones are dropped
# after the idle timeout (4 s here, 60 s by default).
ES=$T/e/daemon.sock
export IDLE_WAIT=$((30 * SLOW)) CMD_TIMEOUT=$((10 * SLOW))
MUSTER_DAEMON_SOCKET=$ES MUSTER_DAEMON_IDLE_TIMEOUT=$((4 * SLOW)) "$MUSTER" daemon --known-hosts "$KH" -k "$KEY" -F /dev/null >/dev/null
at_exit "MUSTER_DAEMON_SOCKET='$ES' '$MUSTER' daemon --stop >/dev/null 2>&1"
out=$(MUSTER_DAEMON_SOCKET=$ES "$PY" "$T/raw.py" "$ES" idle 65 6 \
	"'$MUSTER' daemon --status --json | '$PY' -c 'import json,sys; print(\"clients\", json.load(sys.stdin)[\"clients\"] >= 64)'")
assert_eq "held 70, refused 1
clients True
rc 0
closed 70" "$out" "--status among 70 idle clients, then the idle ones dropped"
grep -qE 'client dropped: idle for [0-9]+ s' "$T/e/daemon.log" || fail "no idle client dropped in the log"
grep -q 'client dropped: making room for a' "$T/e/daemon.log" ||
	fail "no status client made room for another"
out=$(MUSTER_DAEMON_SOCKET=$ES "$PY" "$T/raw.py" "$ES" idle 64 4 "'$MUSTER' daemon --stop")
assert_contains "$out" "held 68, refused 0" "clients held before --stop"
assert_contains "$out" "stopped" "--stop among 68 idle clients"
assert_contains "$out" "rc 0" "--stop among 68 idle clients"
ok "64 idle clients and idle status clients: --status and --stop still get in; idle clients are dropped"

# --- where the socket may be ---------------------------------------------------------
start_at() {	# SOCKET: start a daemon there; its stderr in $T/start.err
	local rc=0
	MUSTER_DAEMON_SOCKET=$1 "$MUSTER" daemon "${D[@]}" >/dev/null 2>"$T/start.err" || rc=$?
	echo "$rc"
}
# A symlink at the socket path, to a file of the user's or dangling: not
# followed, not removed.
mkdir -m 700 "$T/s1"
echo precious >"$T/victim"
ln -s "$T/victim" "$T/s1/daemon.sock"
assert_eq 1 "$(start_at "$T/s1/daemon.sock")" "daemon on a symlinked socket path"
assert_contains "$(cat "$T/start.err")" "symbolic link" "symlinked socket path"
[[ -L $T/s1/daemon.sock ]] || fail "the symlink at the socket path was removed"
assert_eq precious "$(cat "$T/victim")" "the symlink's target"
ln -sfn "$T/nowhere" "$T/s1/daemon.sock"
assert_eq 1 "$(start_at "$T/s1/daemon.sock")" "daemon on a dangling symlink"
[[ -L $T/s1/daemon.sock && ! -e $T/nowhere ]] || fail "a dangling symlink was followed or removed"
# A socket of another user's there (in our directory) is left alone.
mkdir -m 700 "$T/s2"
"$PY" -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/s2/daemon.sock"
chown "$ouid" "$T/s2/daemon.sock"
assert_eq 1 "$(start_at "$T/s2/daemon.sock")" "daemon on another user's socket"
assert_contains "$(cat "$T/start.err")" "belongs to uid $ouid" "another user's socket"
assert_eq "$ouid" "$(stat -c %u "$T/s2/daemon.sock")" "another user's socket left in place"
# A directory others may write to, or another user's, is refused.
mkdir -m 1777 "$T/ww"
assert_eq 1 "$(start_at "$T/ww/daemon.sock")" "daemon in a world-writable directory"
assert_contains "$(cat "$T/start.err")" "writable by others" "world-writable directory"
[[ -e $T/ww/daemon.sock ]] && fail "a socket was made in a world-writable directory"
mkdir -m 700 "$T/theirs"
chown "$ouid" "$T/theirs"
assert_eq 1 "$(start_at "$T/theirs/daemon.sock")" "daemon in another user's directory"
assert_contains "$(cat "$T/start.err")" "belongs to uid $ouid" "another user's directory"
ok "socket path: symlinks, other users' sockets and directories, world-writable directories refused"

# A live daemon keeps its socket; a dead one's is replaced.
assert_eq 1 "$(start_at "$MUSTER_DAEMON_SOCKET")" "second daemon on a live socket"
assert_contains "$(cat "$T/start.err")" "already serves" "second daemon"
daemon_alive "after a second daemon tried its socket"
assert_eq 0 "$(start_at "$T/s3/daemon.sock")" "daemon on a fresh path"
dead=$(MUSTER_DAEMON_SOCKET=$T/s3/daemon.sock "$MUSTER" daemon --status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
kill -9 "$dead"
for _ in $(seq $((300 * SLOW))); do kill -0 "$dead" 2>/dev/null || break; sleep 0.1; done
[[ -S $T/s3/daemon.sock ]] || fail "a killed daemon's socket is gone (test set-up)"
assert_eq 0 "$(start_at "$T/s3/daemon.sock")" "daemon on a dead daemon's socket"
# A daemon whose socket was removed and taken by a newer daemon leaves
# the newer one's socket in place when it stops.
old=$(MUSTER_DAEMON_SOCKET=$T/s3/daemon.sock "$MUSTER" daemon --status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
rm "$T/s3/daemon.sock"
assert_eq 0 "$(start_at "$T/s3/daemon.sock")" "daemon on a removed socket's path"
kill -TERM "$old"
for _ in $(seq $((50 * SLOW))); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
kill -0 "$old" 2>/dev/null && fail "the first daemon did not stop on SIGTERM"
[[ -S $T/s3/daemon.sock ]] || fail "a stopping daemon removed its successor's socket"
MUSTER_DAEMON_SOCKET=$T/s3/daemon.sock "$MUSTER" daemon --status >/dev/null ||
	fail "the newer daemon is unreachable after the older one stopped"
MUSTER_DAEMON_SOCKET=$T/s3/daemon.sock "$MUSTER" daemon --stop >/dev/null
[[ -e $T/s3/daemon.sock ]] && fail "a stopped daemon left its own socket behind"
ok "a live daemon's socket is not taken; a dead daemon's is replaced; a stopping daemon removes only its own"

"$MUSTER" daemon --stop >/dev/null
for _ in $(seq $((300 * SLOW))); do [[ -e $MUSTER_DAEMON_SOCKET ]] || break; sleep 0.1; done
if grep -E 'Sanitizer|runtime error' "$LOG" "$T/s3/daemon.log" "$T/e/daemon.log" >&2; then
	fail "the daemon's log has sanitizer reports"
fi
ok "the daemon stops cleanly after all that"

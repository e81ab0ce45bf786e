#!/usr/bin/env bash
# The levelled log: nothing new by default or at -v; at -vv every host's
# state transitions with the time spent in the state left, and why a host
# failed.
. "$(dirname "$0")/lib.sh"

h1="$(fleet_user 1)@$(fleet_addr 1)"
dead="$(fleet_user 1)@$FLEET_NET.251"	# nothing listens there

# Default: errors only, as before.
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" -- true >"$T/out" 2>"$T/err" ||
	fail "default run failed: $(cat "$T/err")"
grep -q -- ' -> ' "$T/err" && fail "state traces without -vv: $(cat "$T/err")"
ok "no traces by default"

# -v: the timings it always printed, still no traces.
"$MUSTER" run "${MUSTER_OPTS[@]}" -v -w "$h1" -- true >"$T/out" 2>"$T/err" ||
	fail "-v run failed: $(cat "$T/err")"
grep -q -- ' -> ' "$T/err" && fail "state traces at -v: $(cat "$T/err")"
ok "-v prints no traces"

# -vv: each transition of the direct path, in order, with its time.
"$MUSTER" run "${MUSTER_OPTS[@]}" -vv -w "$h1" -- true >"$T/out" 2>"$T/err" ||
	fail "-vv run failed: $(cat "$T/err")"
a1=$(fleet_addr 1)
for step in "init -> resolve" "resolve -> tcp connect" \
	"tcp connect -> ssh handshake" "ssh handshake -> authentication" \
	"authentication -> channel open" "channel open -> exec request" \
	"exec request -> agent start" "agent start -> agent hello" \
	"agent hello -> ready" "ready -> done"; do
	grep -Eq "^muster: ${a1}: ${step} \([0-9]+ ms\)\$" "$T/err" ||
		fail "no trace '$step' at -vv: $(cat "$T/err")"
done
[ "$(grep -n 'tcp connect -> ssh handshake' "$T/err" | cut -d: -f1)" -lt \
	"$(grep -n 'agent hello -> ready' "$T/err" | cut -d: -f1)" ] ||
	fail "traces out of order: $(cat "$T/err")"
ok "-vv traces every transition"

# -vv on a host that refuses: the state it failed in, and why.
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -vv -w "$dead" -- true >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 3 "$rc" "exit status with an unreachable host"
grep -Eq "^muster: $FLEET_NET\.251: failed in tcp connect after [0-9]+ ms: .*Connection refused" "$T/err" ||
	fail "no reason for the failure at -vv: $(cat "$T/err")"
ok "-vv says where and why a host failed"

# The daemon's log file takes the same levels: its events by default, and
# at -vv every held host's transitions (and its conns') with their times.
# daemon_cycle DIR [OPTIONS...]: start a daemon holding host 1 with its
# socket in DIR, wait until the host is ready, stop it, wait until it has.
daemon_cycle() {
	local dir=$1 i
	shift
	mkdir -p "$dir"
	chmod 700 "$dir"
	MUSTER_DAEMON_SOCKET=$dir/daemon.sock "$MUSTER" daemon "$@" \
		"${MUSTER_OPTS[@]}" -w "$h1" >/dev/null ||
		fail "daemon $* did not start"
	for i in $(seq 1 $((60 * SLOW))); do
		grep -q 'ready in' "$dir/daemon.log" 2>/dev/null && break
		sleep 1
	done
	MUSTER_DAEMON_SOCKET=$dir/daemon.sock "$MUSTER" daemon --stop >/dev/null ||
		fail "daemon $* did not stop: $(cat "$dir/daemon.log")"
	for i in $(seq 1 $((60 * SLOW))); do
		grep -q 'muster-daemon: stopped$' "$dir/daemon.log" && return 0
		sleep 1
	done
	fail "daemon $* never said it stopped: $(cat "$dir/daemon.log")"
}
daemon_cycle "$T/d0"
grep -Eq "^[0-9T:-]+ muster-daemon: ${h1}: ready in [0-9]+ ms" "$T/d0/daemon.log" ||
	fail "no event in the daemon's log by default: $(cat "$T/d0/daemon.log")"
grep -q -- ' -> ' "$T/d0/daemon.log" &&
	fail "state traces in the daemon's log by default: $(cat "$T/d0/daemon.log")"
daemon_cycle "$T/d2" -vv
for step in "new -> waiting" "waiting -> connecting" "connecting -> ready" \
	"ready -> stopped"; do
	grep -Eq "^[0-9T:-]+ muster-daemon: ${h1}: ${step} \([0-9]+ ms\)\$" \
		"$T/d2/daemon.log" ||
		fail "no held-host trace '$step' at -vv: $(cat "$T/d2/daemon.log")"
done
grep -Eq "muster-daemon: ${h1}: agent hello -> ready \([0-9]+ ms\)\$" "$T/d2/daemon.log" ||
	fail "no conn trace in the daemon's log at -vv: $(cat "$T/d2/daemon.log")"
ok "the daemon's log: events by default, every transition at -vv"

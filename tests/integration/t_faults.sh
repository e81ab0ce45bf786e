#!/usr/bin/env bash
# Faults injected mid-operation: nothing hangs, nothing is lost, and the
# other hosts carry on. (A full disk and the agent killed mid-push are in
# t_push.sh, a whole host killed mid-watch in t_watch.sh, a timeout with a
# background child in t_failures.sh.)
. "$(dirname "$0")/lib.sh"

# Silent agents are noticed after a few heartbeats: 1 s here, not 10.
export MUSTER_HEARTBEAT=1

h() { echo "$(fleet_user "$1")@$(fleet_addr "$1")"; }
agent_pid() { pgrep -u "$(fleet_user "$1")" -f 'muster-agent-.* --stdio' | head -n 1 || true; }
wait_agent() { # I: pid of host I's agent, once it runs
	local p
	for _ in $(seq $((200 * SLOW))); do
		p=$(agent_pid "$1")
		[[ -n $p ]] && { echo "$p"; return 0; }
		sleep 0.05
	done
	return 1
}
status_of() { # FILE HOST: "status|error" of HOST in a --json file
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["host"] == sys.argv[2]:
        print(o["status"], o.get("error") or "", sep="|")
        sys.exit(0)
print("missing|")' "$1" "$2"
}
alive() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat") != Z ]]; }
gone_within() { # PID TENTHS
	for _ in $(seq "$2"); do alive "$1" || return 0; sleep 0.1; done
	return 1
}

"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$(h 1),$(h 2),$(h 3),$(h 4),$(h 5),$(h 6)" -- true >/dev/null 2>&1 ||
	fail "agents could not be put in place"

# --- the agent SIGKILLed during run --------------------------------------
start=$SECONDS
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$(h 1),$(h 2),$(h 3)" --json -- 'sleep 3; echo done' >"$T/j" 2>"$T/e" &
mpid=$!
apid=$(wait_agent 2) || fail "no agent on host 2"
sleep 0.3
kill -KILL "$apid"
set +e; wait "$mpid"; rc=$?; set -e
((SECONDS - start < 15 * SLOW)) || fail "run took $((SECONDS - start)) s after the agent was killed"
assert_eq 1 "$rc" "exit status with an agent lost mid-command"
assert_eq "ok|" "$(status_of "$T/j" "$(fleet_addr 1)")" "host 1 unaffected"
assert_eq "ok|" "$(status_of "$T/j" "$(fleet_addr 3)")" "host 3 unaffected"
got=$(status_of "$T/j" "$(fleet_addr 2)")
assert_contains "$got" "failed|lost after the command started (it may have run): " "a command that may have run counts as failed"
assert_contains "$got" "agent exited" "killed agent reported"
ok "agent SIGKILLed during run: $got (at ${SECONDS}s)"

# --- the agent SIGKILLed during watch: the host goes down, comes back ----
"$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1),$(fleet_addr 2)" --json --interval 0.5 --duration $((20 * SLOW)) >"$T/ev" 2>"$T/err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null || true"
wait_for() { # PATTERN COUNT
	for _ in $(seq $((150 * SLOW))); do
		[[ $(grep -c "$1" "$T/ev" || true) -ge $2 ]] && return 0
		sleep 0.1
	done
	fail "timed out waiting for $2 x $1: $(tail -5 "$T/ev")"
}
wait_for "\"event\":\"up\",\"host\":\"$(fleet_addr 2)\"" 1
apid=$(wait_agent 2) || fail "no agent on host 2"
kill -KILL "$apid"
wait_for "\"event\":\"down\",\"host\":\"$(fleet_addr 2)\"" 1
wait_for "\"event\":\"up\",\"host\":\"$(fleet_addr 2)\"" 2
kill "$wpid"; wait "$wpid" 2>/dev/null || true
grep -q "\"event\":\"down\",\"host\":\"$(fleet_addr 1)\"" "$T/ev" && fail "host 1 went down too"
ok "agent SIGKILLed during watch: down, then up again (at ${SECONDS}s)"

# --- the agent SIGKILLed during push: covered in t_push.sh; here the
# controller is SIGKILLed mid-push instead, on three hosts at once ---
for i in 1 2 3; do
	d=$(fleet_home "$i")/faultpush
	rm -rf "$d"; mkdir -p "$d"; echo old >"$d/f"; chown -R "$(fleet_user "$i"):" "$d"
done
# (Under valgrind 24 MiB: still well past the 8 MiB where it is killed.)
head -c $(($(vg_pick 64 24) << 20)) /dev/zero >"$T/huge"
"$MUSTER" push "${MUSTER_OPTS[@]}" --json -w "$(h 1),$(h 2),$(h 3)" "$T/huge" faultpush/f >"$T/j" 2>"$T/e" &
mpid=$!
caught=0
for _ in $(seq $((400 * SLOW))); do
	apid=$(agent_pid 3)
	if [[ -n $apid ]] && (($(awk '/^wchar/ {print $2}' "/proc/$apid/io" 2>/dev/null || echo 0) > 8 << 20)); then
		kill -KILL "$mpid"; caught=1; break
	fi
	sleep 0.02
done
wait "$mpid" 2>/dev/null || true
((caught)) || fail "did not catch the push in flight"
for i in 1 2 3; do
	assert_eq old "$(cat "$(fleet_home "$i")/faultpush/f")" "old file intact on host $i after the controller died"
done
# The agents notice the closed channel and go, with nothing left behind.
for i in 1 2 3; do
	p=$(agent_pid "$i")
	[[ -z $p ]] || gone_within "$p" $((100 * SLOW)) || fail "agent $p on host $i outlived its controller"
done
small=$T/small; echo new >"$small"
"$MUSTER" push "${MUSTER_OPTS[@]}" --json -w "$(h 1),$(h 2),$(h 3)" "$small" faultpush/f >"$T/j" 2>"$T/e" ||
	fail "push after the kill failed: $(cat "$T/e")"
for i in 1 2 3; do
	d=$(fleet_home "$i")/faultpush
	assert_eq new "$(cat "$d/f")" "the next push lands on host $i"
	assert_eq "f" "$(ls -A "$d")" "no temporary files left on host $i"
done
ok "controller SIGKILLed mid-push: old files intact, agents gone, next push clean (at ${SECONDS}s)"

# --- sshd SIGSTOPped after authentication --------------------------------
# The session's sshd processes (privileged monitor and the user's) stop
# while a command runs: that host times out, the others finish.
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$(h 4),$(h 5),$(h 6)" --json -- 'sleep 4; echo done' >"$T/j" 2>"$T/e" &
mpid=$!
wait_agent 5 >/dev/null || fail "no agent on host 5"
sess=$(pgrep -f "^sshd: $(fleet_user 5)( |@)" | tr '\n' ' ' || true)
[[ -n $sess ]] || fail "no sshd session processes for host 5"
# shellcheck disable=SC2086
kill -STOP $sess
at_exit "kill -CONT $sess 2>/dev/null || true"
start=$SECONDS
set +e; wait "$mpid"; rc=$?; set -e
# shellcheck disable=SC2086
kill -CONT $sess
((SECONDS - start < 20 * SLOW)) || fail "run took $((SECONDS - start)) s with a stopped sshd"
assert_eq "ok|" "$(status_of "$T/j" "$(fleet_addr 4)")" "host 4 unaffected"
assert_eq "ok|" "$(status_of "$T/j" "$(fleet_addr 6)")" "host 6 unaffected"
got=$(status_of "$T/j" "$(fleet_addr 5)")
assert_contains "$got" "timeout|" "the stopped host times out"
ok "sshd SIGSTOPped after authentication: $got (at ${SECONDS}s)"

# --- a command that forks a daemon holding stdout open --------------------
# The daemon leaves the process group (setsid), so only the timeout and the
# closing of the pipes after the grace period end the stream.
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$(h 4)" --json -t 1 -- \
	'setsid sleep 30 & echo $! >/tmp/muster-daemon.$USER; echo $$ >/tmp/muster-shell.$USER; sleep 30' >"$T/j" 2>"$T/e" &
mpid=$!
start=$SECONDS
set +e; wait "$mpid"; rc=$?; set -e
((SECONDS - start < 10 * SLOW)) || fail "a daemon holding stdout kept the run for $((SECONDS - start)) s"
assert_eq 1 "$rc" "exit status with a timed-out command"
assert_contains "$(status_of "$T/j" "$(fleet_addr 4)")" "timeout|" "status timeout"
u4=$(fleet_user 4)
shell=$(cat "/tmp/muster-shell.$u4") daemon=$(cat "/tmp/muster-daemon.$u4")
gone_within "$shell" $((50 * SLOW)) || fail "the command's shell $shell survived the timeout"
kill "$daemon" 2>/dev/null || true # not ours to kill: it left the group
rm -f "/tmp/muster-shell.$u4" "/tmp/muster-daemon.$u4"
ok "daemon holding stdout: timeout fired, process group killed (at ${SECONDS}s)"

# --- a command ignoring SIGTERM: SIGKILL after the grace period ----------
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$(h 6)" --json -t 1 -- "trap '' TERM; sleep 30 & wait" >"$T/j" 2>"$T/e" || true
python3 - "$T/j" "$SLOW" <<'PY' || fail "SIGTERM ignored: $(cat "$T/j")"
import json, sys
o = json.loads(open(sys.argv[1]).readline())
assert o["status"] == "timeout", o
assert o["signal_name"] == "KILL", o
assert 2500 <= o["duration_ms"] < 10000 * int(sys.argv[2]), o
PY
ok "command ignoring SIGTERM gets SIGKILL (at ${SECONDS}s)"

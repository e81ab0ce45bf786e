#!/usr/bin/env bash
# Exit codes, signals, timeouts, unreachable and stopped hosts.
. "$(dirname "$0")/lib.sh"

h1="$(fleet_user 1)@$(fleet_addr 1)"
h2="$(fleet_user 2)@$(fleet_addr 2)"
h3="$(fleet_user 3)@$(fleet_addr 3)"

json_field() { python3 -c 'import json,sys; o=json.loads(sys.stdin.read()); print(o[sys.argv[1]])' "$1"; }

set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" --json -- 'exit 3' >"$T/j"; rc=$?
set -e
assert_eq 1 "$rc" "exit status for a failed command"
assert_eq failed "$(json_field status <"$T/j")" "status"
assert_eq 3 "$(json_field exit_code <"$T/j")" "exit code"
ok "exit code"

set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" --json -- 'kill -9 $$' >"$T/j"; rc=$?
set -e
assert_eq 1 "$rc" "exit status for a killed command"
assert_eq 9 "$(json_field signal <"$T/j")" "signal"
assert_eq None "$(json_field exit_code <"$T/j")" "no exit code with a signal"
ok "signal"

# Timeout kills the whole process group, including a background child.
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" --json -t 1 -- 'sleep 300 & echo $! > /tmp/muster-bg.$USER; sleep 300' >"$T/j" 2>"$T/err"; rc=$?
set -e
assert_eq 1 "$rc" "exit status for a timeout"
assert_eq timeout "$(json_field status <"$T/j")" "status"
assert_contains "$(cat "$T/err")" "0 ok, 1 failed, 0 unreachable" "a command timeout counts as failed"
bg=$(cat "/tmp/muster-bg.$(fleet_user 1)")
# Killed orphans may linger as zombies where PID 1 does not reap: only a
# process that is not a zombie counts as alive.
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat")" != Z ]; }
for _ in $(seq $((300 * SLOW))); do alive "$bg" || break; sleep 0.1; done
alive "$bg" && fail "background child $bg survived the timeout"
rm -f "/tmp/muster-bg.$(fleet_user 1)"
ok "timeout kills the process group"

# A closed port is unreachable; the others still run.
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1,$h2,$(fleet_user 1)@$FLEET_NET.251" --json -- echo hi >"$T/j" 2>"$T/err"; rc=$?
set -e
assert_eq 3 "$rc" "exit status with an unreachable host"
assert_eq 2 "$(grep -c '"status":"ok"' "$T/j")" "the reachable hosts ran"
assert_contains "$(grep "$FLEET_NET.251" "$T/j")" "Connection refused" "closed port reported"
ok "closed port"

# A host whose sshd is stopped times out within --connect-timeout; the
# others are unaffected.
fleet_stop 3
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1,$h2,$h3" --connect-timeout $((3 * SLOW)) --json -- echo hi >"$T/j" 2>"$T/err"; rc=$?
set -e
fleet_cont 3
assert_eq 3 "$rc" "exit status with a stopped host"
assert_eq 2 "$(grep -c '"status":"ok"' "$T/j")" "the live hosts ran"
assert_contains "$(grep "\"$(fleet_addr 3)\"" "$T/j")" '"status":"timeout"' "stopped host times out"
ok "stopped sshd"

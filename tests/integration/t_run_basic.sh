#!/usr/bin/env bash
# Cold bootstrap on 20 hosts, then a warm run that uploads nothing; output
# and exit codes exactly right.
. "$(dirname "$0")/lib.sh"

n=$FLEET_N
[ "$n" -ge 20 ] || fail "the fixture fleet has $n hosts, need 20"

# Cold: every host gets the agent.
for i in $(seq 1 "$n"); do rm -rf "$(fleet_home "$i")/.cache/muster"; done
"$MUSTER" run "${MUSTER_OPTS[@]}" -v -- echo hello '$USER' >"$T/out" 2>"$T/err" ||
	fail "cold run failed: $(cat "$T/err")"
assert_eq "$n" "$(grep -c ": hello $FLEET_USER_PREFIX" "$T/out")" "one hello per host"
for i in $(seq 1 "$n"); do
	grep -qx "$(fleet_addr "$i"): hello $(fleet_user "$i")" "$T/out" ||
		fail "host $i: wrong output or user"
done
assert_eq "$n" "$(grep -c 'agent uploaded via exec' "$T/err")" "cold run uploads to every host"
assert_contains "$(cat "$T/err")" "$n hosts: $n ok, 0 failed, 0 unreachable" "summary"
agent=$(ls "$(fleet_home 1)"/.cache/muster/muster-agent-[0-9a-f]*)
inode=$(stat -c %i "$agent")
[ "$(stat -c %a "$agent")" = 700 ] || fail "agent mode is $(stat -c %a "$agent"), want 700"
# The start link the next runs exec, pointing at the verified agent.
link=$(ls "$(fleet_home 1)"/.cache/muster/muster-agent-set-*)
assert_eq "$(basename "$agent")" "$(readlink "$link")" "start link target"
ls -A "$(fleet_home 1)/.cache/muster" | grep -q '^\.muster-agent' && fail "temporary upload file left behind"
ok "cold bootstrap of $n hosts"

# Warm: nothing uploaded, same file.
"$MUSTER" run "${MUSTER_OPTS[@]}" -v -- true 2>"$T/err" || fail "warm run failed: $(cat "$T/err")"
assert_eq "$n" "$(grep -c 'agent cached' "$T/err")" "warm run uploads nothing"
assert_eq "$inode" "$(stat -c %i "$agent")" "agent file untouched by the warm run"
ok "warm run reuses the agent"

# A damaged agent (right name, wrong content) is never run: re-uploaded.
printf 'garbage' >"$agent"
"$MUSTER" run "${MUSTER_OPTS[@]}" -v -w "$(fleet_user 1)@$(fleet_addr 1)" -- echo again >"$T/out" 2>"$T/err" ||
	fail "run after damage failed: $(cat "$T/err")"
assert_contains "$(cat "$T/err")" "agent uploaded" "damaged agent replaced"
assert_eq "$(fleet_addr 1): again" "$(cat "$T/out")" "damaged agent: command ran"
ok "damaged agent detected by hash and replaced"

# Exit codes: 0 all ok, 1 when a command fails.
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -- "test \"\$USER\" != $(fleet_user 2)" >/dev/null 2>"$T/err"
rc=$?
set -e
assert_eq 1 "$rc" "one failing command gives exit status 1"
assert_contains "$(cat "$T/err")" "$(fleet_addr 2): exited with code 1" "failure reported per host"
ok "exit status"

#!/usr/bin/env bash
# More -c commands than an agent channel has streams (256, PROTOCOL.md
# section 11): the extra ones wait on their host and start as earlier ones
# end, instead of failing with "cannot start command".
. "$(dirname "$0")/lib.sh"

ncmd=300
cmds=()
for ((i = 1; i <= ncmd; i++)); do
	cmds+=(-c "echo $i")
done
hosts="$(fleet_addr 1),$(fleet_addr 2)"

# check_all JSON NCMD NHOSTS WHAT: every command's output, once, from each
# host, all ok.
check_all() {
	python3 - "$1" "$2" "$3" <<'PY' || fail "not every command's output arrived ($4)"
import json, sys, collections
objs = [json.loads(l) for l in open(sys.argv[1])]
ncmd, nhosts = int(sys.argv[2]), int(sys.argv[3])
seen = collections.defaultdict(set)
for o in objs:
    assert o["status"] == "ok", o
    host, idx = o["host"], str(o["command_index"])
    assert "#" not in host and o["command"] == "echo " + idx, o
    assert o["stdout"] == idx + "\n", o
    seen[host].add(int(idx))
assert len(seen) == nhosts, seen.keys()
for host, idxs in seen.items():
    assert idxs == set(range(1, ncmd + 1)), (host, sorted(set(range(1, ncmd + 1)) - idxs)[:10])
assert len(objs) == nhosts * ncmd, len(objs)
PY
}

rc=0
"$MUSTER" run "${MUSTER_OPTS[@]}" --no-daemon -w "$hosts" --json "${cmds[@]}" >"$T/j" 2>"$T/err" || rc=$?
assert_eq 0 "$rc" "exit status of $ncmd commands on 2 hosts (stderr: $(head -c 300 "$T/err"))"
check_all "$T/j" "$ncmd" 2 direct
ok "$ncmd commands on each of 2 hosts: every output, exit 0"

# Every command reads the one stdin, held until the slowest took it: one
# waiting for a slot would stall the others, so this is refused up front.
rc=0
echo data | "$MUSTER" run "${MUSTER_OPTS[@]}" --no-daemon -w "$hosts" --stdin "${cmds[@]}" >"$T/out" 2>"$T/err" || rc=$?
assert_eq 2 "$rc" "--stdin with $ncmd commands is a usage error"
assert_contains "$(cat "$T/err")" "--stdin with more than 256 commands" "the message says why"
ok "--stdin with more commands than streams is refused"

# Through a daemon one client holds at most 128 streams on a host (the
# rest are for its other clients): 200 commands wait there.
export MUSTER_DAEMON_SOCKET=$T/d/daemon.sock
"$MUSTER" daemon "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1)" >"$T/start"
at_exit '"$MUSTER" daemon --stop >/dev/null 2>&1'
rc=0
"$MUSTER" run "${MUSTER_OPTS[@]}" -v -w "$(fleet_addr 1)" --json "${cmds[@]:0:400}" >"$T/j" 2>"$T/err" || rc=$?
assert_contains "$(cat "$T/err")" "using the daemon" "run used the daemon"
assert_eq 0 "$rc" "exit status of 200 commands through the daemon (stderr: $(grep -v 'using the daemon' "$T/err" | head -c 300))"
check_all "$T/j" 200 1 daemon
ok "200 commands through the daemon: every output, exit 0"

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

rc=0
"$MUSTER" run "${MUSTER_OPTS[@]}" --no-daemon -w "$hosts" --json "${cmds[@]}" >"$T/j" 2>"$T/err" || rc=$?
assert_eq 0 "$rc" "exit status of $ncmd commands on 2 hosts (stderr: $(head -c 300 "$T/err"))"
python3 - "$T/j" "$ncmd" <<'PY' || fail "not every command's output arrived"
import json, sys, collections
objs = [json.loads(l) for l in open(sys.argv[1])]
ncmd = int(sys.argv[2])
seen = collections.defaultdict(set)
for o in objs:
    assert o["status"] == "ok", o
    host, idx = o["host"].rsplit("#", 1)
    assert o["stdout"] == idx + "\n", o
    seen[host].add(int(idx))
assert len(seen) == 2, seen.keys()
for host, idxs in seen.items():
    assert idxs == set(range(1, ncmd + 1)), (host, sorted(set(range(1, ncmd + 1)) - idxs)[:10])
assert len(objs) == 2 * ncmd, len(objs)
PY
ok "$ncmd commands on each of 2 hosts: every output, exit 0"

# Every command reads the one stdin, held until the slowest took it: one
# waiting for a slot would stall the others, so this is refused up front.
rc=0
echo data | "$MUSTER" run "${MUSTER_OPTS[@]}" --no-daemon -w "$hosts" --stdin "${cmds[@]}" >"$T/out" 2>"$T/err" || rc=$?
assert_eq 2 "$rc" "--stdin with $ncmd commands is a usage error"
assert_contains "$(cat "$T/err")" "--stdin with more than 256 commands" "the message says why"
ok "--stdin with more commands than streams is refused"

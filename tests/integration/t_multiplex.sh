#!/usr/bin/env bash
# Several commands at once on each host, over one agent channel.
. "$(dirname "$0")/lib.sh"

n=$FLEET_N
# Command 1 waits for a file that command 2 creates: run one after the
# other they would never finish (the timeout would fail them).
wait_cmd='f=/tmp/muster-mux.$USER; while [ ! -e $f ]; do sleep 0.05; done; rm -f $f; echo waited $PPID'
make_cmd='sleep 0.2; touch /tmp/muster-mux.$USER; echo made $PPID'
"$MUSTER" run "${MUSTER_OPTS[@]}" -t 20 --json -c "$wait_cmd" -c "$make_cmd" -c 'echo third $PPID' >"$T/j" 2>"$T/err" ||
	fail "concurrent commands failed: $(cat "$T/err")"
python3 - "$T/j" "$n" <<'PY'
import json, sys, collections
objs = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
assert len(objs) == 3 * n, len(objs)
parents = collections.defaultdict(set)
for o in objs:
    assert o["status"] == "ok", o
    host, idx = o["host"], str(o["command_index"])
    word, ppid = o["stdout"].split()
    assert word == {"1": "waited", "2": "made", "3": "third"}[idx], o
    parents[host].add(ppid)
# The three commands on a host share one parent: the one agent.
assert len(parents) == n and all(len(p) == 1 for p in parents.values()), parents
PY
ok "3 concurrent commands on each of $n hosts over one agent"

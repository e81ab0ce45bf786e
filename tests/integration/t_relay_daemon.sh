#!/usr/bin/env bash
# The daemon holds the inventory's relays and the hosts behind them
# (daemon.c, relay.h): one relay connection, its hosts warm, a run through
# the daemon reaching them with the same output, JSON and statuses, and
# `--status` showing the relay and each host's route. The relay SIGKILLed:
# its hosts leave ready "via relay gw", the relay shows its failure, the
# daemon opens it again with back-off and the hosts come back.
#
# As t_relay: the targets' sshd runs in a network namespace this test
# creates; the gateway is a socat listener in the root namespace that starts
# the gateway's `sshd -i` inside it, where the relay runs. Nothing listens
# on the targets' addresses in the root namespace.
. "$(dirname "$0")/lib.sh"

command -v socat >/dev/null || fail "socat is not installed (deploy/install-deps)"
command -v ssh-agent >/dev/null || fail "ssh-agent is not installed"
((EUID == 0)) || fail "needs root for ip netns"

ns_new muster-rd

GW=$FLEET_NET.222
N=3
TARGETS=()
for i in $(seq 131 $((130 + N))); do TARGETS+=("$FLEET_NET.$i"); done

ns_sshd_config 3 "$T/targets.conf" "0.0.0.0:2222"
ns_sshd_config 1 "$T/gw.conf"
ip netns exec "$NS" /usr/sbin/sshd -f "$T/targets.conf" -E "$T/targets.log"
ns_way_in "$GW" "$T/gw.conf" "$T/gw.log"
ns_wait "$GW" ":2222"

key_of() { fleet_key "$1"; }
{
	echo "$GW $(key_of 1)"
	for a in "${TARGETS[@]}"; do echo "[$a]:2222 $(key_of 3)"; done
} >"$T/kh"

chmod 755 "$T"
mkdir -m 1777 "$T/m"
U1=$(fleet_user 1) U3=$(fleet_user 3)
cat >"$T/ssh_config" <<CFG
Host gw
    HostName $GW
    User $U1
CFG
{
	echo "[behind]"
	for i in $(seq 0 $((N - 1))); do
		echo "t$i ansible_host=${TARGETS[$i]} ansible_port=2222 ansible_user=$U3"
	done
	echo "[behind:vars]"
	echo "relay=gw"
} >"$T/inv"

# The operator's agent holds the key: the relay's hosts see only what it
# signs for them, through the relay's session.
agent_with "$KEY"

export MUSTER_DAEMON_SOCKET=$T/d/daemon.sock
mkdir -p "$T/d"
C=(-F "$T/ssh_config" --known-hosts "$T/kh")
gw_sessions() { grep -c "Accepted publickey for $U1" "$T/gw.log" 2>/dev/null || true; }
st() {
	"$MUSTER" daemon --status --json >"$T/st" 2>"$T/st.err" ||
		fail "daemon --status: $(cat "$T/st.err"); its log: $(tail -30 "$T/d/daemon.log")"
}
jq_st() { python3 -c "import json,sys; d=json.load(open('$T/st')); $1"; }
nready() { jq_st 'print(sum(h["state"]=="ready" for h in d["hosts"]))'; }
# wait_ready N: until N hosts are ready (or the test's patience ends).
wait_ready() {
	local n=
	for _ in $(seq $((300 * SLOW))); do
		st
		n=$(nready)
		((n == $1)) && return 0
		sleep 0.2
	done
	fail "waited for $1 ready hosts, have $n: $(cat "$T/st")"
}

before=$(gw_sessions)
# The heartbeat on the relay's link every 2 s (the relay stopped below).
MUSTER_HEARTBEAT=2 "$MUSTER" daemon -v "${C[@]}" -i "$T/inv" >"$T/start" 2>&1 ||
	fail "daemon start: $(cat "$T/start")"
at_exit '"$MUSTER" daemon --stop >/dev/null 2>&1'
wait_ready "$N"
assert_eq 1 "$(($(gw_sessions) - before))" "one relay connection for the $N hosts held"
ok "the daemon holds $N hosts behind one relay"

# --status: the relay (name, state, hosts behind it) and each host's route.
held=$(for a in "${TARGETS[@]}"; do echo "$U3@$a:2222"; done | sort | paste -sd,)
assert_eq "gw up $held" \
	"$(jq_st 'r=d["relays"][0]; print(r["relay"], r["state"], ",".join(sorted(r["hosts"])))')" \
	"--status --json: the relay"
assert_eq "via relay gw" "$(jq_st 'print([h["route"] for h in d["hosts"] if h["host"].endswith("'"${TARGETS[0]}"':2222")][0])')" \
	"--status --json: the host's route"
"$MUSTER" daemon --status >"$T/st.txt"
assert_contains "$(cat "$T/st.txt")" "RELAY" "--status text: the relays' table"
assert_contains "$(grep '^gw ' "$T/st.txt")" "up" "--status text: the relay's row"
assert_contains "$(cat "$T/st.txt")" "via relay gw" "--status text: the route"
ok "--status shows the relay and each host's route"

# A run through the daemon: its held channels, the same output, JSON and
# statuses as direct; no new gateway connection.
before=$(gw_sessions)
set +e
"$MUSTER" run -v "${C[@]}" -i "$T/inv" --json -- "echo out-\$(id -un); exit 7" >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 1 "$rc" "a failing command through the daemon's relay: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/err")" "using the daemon" "the run used the daemon"
assert_eq "$N" "$(grep -c '"status":"failed".*"exit_code":7' "$T/out")" "per-host statuses: $(cat "$T/out")"
assert_eq "$N" "$(grep -c "out-$U3" "$T/out")" "per-host output: $(cat "$T/out")"
"$MUSTER" run "${C[@]}" -i "$T/inv" -- "touch $T/m/w-\$(hostname)-\$\$" >"$T/out" 2>"$T/err" ||
	fail "a run through the daemon: $(cat "$T/out" "$T/err")"
assert_eq "$N" "$(find "$T/m" -name 'w-*' | wc -l)" "ran on every host through the daemon"
assert_eq 0 "$(($(gw_sessions) - before))" "no new gateway connection for the runs"
ok "a warm run through the daemon reaches the hosts behind the relay"

# A client naming a held host without its relay is not lent the relayed
# channel (and cannot reach it directly: nothing outside the namespace).
set +e
"$MUSTER" run "${C[@]}" -w "$U3@${TARGETS[0]}:2222" -- true >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 3 "$rc" "the host without its relay: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/out" "$T/err")" "behind a relay" "says why"
ok "a host held behind a relay is never lent to a direct route"

# The relay SIGKILLed: its hosts leave ready, via relay gw; the relay
# shows its failure; the daemon opens it again and the hosts come back.
relay_sha=$(sha256sum "$BUILD_DIR/bin/muster-relay" | cut -d' ' -f1)
relay_pids() {
	local p
	for p in $(ip netns pids "$NS"); do
		[[ $(readlink "/proc/$p/exe" 2>/dev/null) == *"muster-agent-$relay_sha"* ]] && echo "$p"
	done
	return 0
}
pids=$(relay_pids)
[[ -n $pids ]] || fail "no relay process found in the namespace"
before=$(gw_sessions)
# Stop the gateway's listener too, so that the failure is seen before the
# relay is back; started again below.
children=$(pgrep -P "$SOCAT" || true)
kill "$SOCAT"
wait "$SOCAT" 2>/dev/null || true
kill -9 $pids
for pid in $children; do kill -9 "$pid" 2>/dev/null || true; done
for _ in $(seq $((300 * SLOW))); do
	st
	[[ $(nready) == 0 && $(jq_st 'print(d["relays"][0]["state"])') == backoff ]] && break
	sleep 0.2
done
assert_eq 0 "$(nready)" "the relay's hosts left ready: $(cat "$T/st")"
assert_eq backoff "$(jq_st 'print(d["relays"][0]["state"])')" "--status: the relay backs off: $(cat "$T/st")"
assert_contains "$(jq_st 'print(d["relays"][0]["error"])')" "via relay gw" "--status: the relay's failure"
assert_contains "$(jq_st 'print(d["hosts"][0]["error"])')" "via relay gw" "--status: a host's failure names the relay"
ok "the relay killed: its hosts leave ready via relay gw"

socat "TCP-LISTEN:22,bind=$GW,fork,reuseaddr" \
	EXEC:"ip netns exec $NS /usr/sbin/sshd -i -f $T/gw.conf -E $T/gw.log" &
SOCAT=$!
at_exit "kill $SOCAT 2>/dev/null"
wait_ready "$N"
assert_eq "gw up" "$(jq_st 'r=d["relays"][0]; print(r["relay"], r["state"])')" "--status: the relay is back"
[[ $(jq_st 'print(d["relays"][0]["reconnects"])') -ge 1 ]] || fail "--status: the relay's reconnects: $(cat "$T/st")"
rm -f "$T/m/w-"*
"$MUSTER" run "${C[@]}" -i "$T/inv" -- "touch $T/m/w-\$(hostname)-\$\$" >"$T/out" 2>"$T/err" ||
	fail "a run after the relay came back: $(cat "$T/out" "$T/err")"
assert_eq "$N" "$(find "$T/m" -name 'w-*' | wc -l)" "ran on every host after the relay came back"
ok "the relay came back: the daemon's hosts come back through it"


# The relay stopped (SIGSTOP): its channel stays open and nothing closes;
# the heartbeat on its link notices the silence, its hosts leave ready
# "via relay gw: silent for 6 s", and the daemon opens the relay again.
pids=$(relay_pids)
[[ -n $pids ]] || fail "no relay process found in the namespace"
reconnects=$(jq_st 'print(d["relays"][0]["reconnects"])')
kill -STOP $pids
at_exit "kill -9 $pids 2>/dev/null"
for _ in $(seq $((300 * SLOW))); do
	st
	[[ $(jq_st 'print(d["relays"][0]["error"])') == *silent* ]] && break
	sleep 0.2
done
assert_eq "via relay gw: silent for 6 s" "$(jq_st 'print(d["relays"][0]["error"])')" "--status: the stopped relay's failure: $(cat "$T/st")"
assert_eq "$N" "$(jq_st 'print(sum("via relay gw: silent for 6 s" in h["error"] for h in d["hosts"]))')" "--status: its hosts' failure: $(cat "$T/st")"
kill -9 $pids
wait_ready "$N"
[[ $(jq_st 'print(d["relays"][0]["reconnects"])') -gt $reconnects ]] || fail "--status: the stopped relay was not reopened: $(cat "$T/st")"
rm -f "$T/m/w-"*
"$MUSTER" run "${C[@]}" -i "$T/inv" -- "touch $T/m/w-\$(hostname)-\$\$" >"$T/out" 2>"$T/err" ||
	fail "a run after the stopped relay was replaced: $(cat "$T/out" "$T/err")"
assert_eq "$N" "$(find "$T/m" -name 'w-*' | wc -l)" "ran on every host after the stopped relay was replaced"
ok "a stopped relay: the heartbeat fails its hosts via relay gw: silent for 6 s, the daemon opens it again"

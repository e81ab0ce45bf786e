#!/usr/bin/env bash
# A relay behind a relay (relay.h): `--relay gwa,gwb` / `relay=gwa,gwb`, the
# list outermost first as ProxyJump's. The last relay is reached through the
# gateways before it as through -J (SSH end to end to it, its key checked by
# the controller, no agent forwarded to the gateways on the way), and runs
# muster-relay for the hosts behind it, with the operator's agent forwarded
# on its session only.
#
# Two network namespaces this test creates: the outer one holds gateway A
# (sshd -i started by a socat listener in the root namespace, as in
# t_relay) and hosts only A reaches; the inner one holds gateway B and the
# hosts only B reaches. The one way into the inner namespace is a socat
# listener inside the outer one. Nothing listens on any target's address,
# nor on B's, in the root namespace.
. "$(dirname "$0")/lib.sh"

command -v socat >/dev/null || fail "socat is not installed (deploy/install-deps)"
command -v ssh-agent >/dev/null || fail "ssh-agent is not installed"
((EUID == 0)) || fail "needs root for ip netns"

GWA=$FLEET_NET.225  # root namespace: socat -> sshd -i in the outer namespace
GWB=$FLEET_NET.226  # outer namespace: socat -> sshd -i in the inner one
DEAD=$FLEET_NET.219 # nothing listens
OUTER=() INNER=()
for i in 151 152; do OUTER+=("$FLEET_NET.$i"); done
for i in 161 162 163; do INNER+=("$FLEET_NET.$i"); done

ns_new muster-rn-in
NSB=$NS
ns_sshd_config 3 "$T/inner-targets.conf" "0.0.0.0:2222"
ns_sshd_config 2 "$T/gwb.conf"
ip netns exec "$NSB" /usr/sbin/sshd -f "$T/inner-targets.conf" -E "$T/inner-targets.log"

ns_new muster-rn-out
NSA=$NS
# Only on the outer targets' addresses: its loopback answers for all of
# 127/8, and the inner targets' addresses must lead nowhere here.
ns_sshd_config 3 "$T/outer-targets.conf" "${OUTER[0]}:2222" "${OUTER[1]}:2222"
ns_sshd_config 1 "$T/gwa.conf"
# sshd logs each session's requests at DEBUG1: whether the agent was asked.
sed -i 's/^LogLevel .*/LogLevel DEBUG1/' "$T/gwa.conf"
ip netns exec "$NSA" /usr/sbin/sshd -f "$T/outer-targets.conf" -E "$T/outer-targets.log"
ip netns exec "$NSA" socat "TCP-LISTEN:22,bind=$GWB,fork,reuseaddr" \
	EXEC:"ip netns exec $NSB /usr/sbin/sshd -i -f $T/gwb.conf -E $T/gwb.log" &
SOCATB=$!
at_exit "kill $SOCATB 2>/dev/null"
ns_way_in "$GWA" "$T/gwa.conf" "$T/gwa.log"
ns_wait "$GWA" "${OUTER[1]}:2222" "$GWB:22"
NS=$NSB ns_wait "$GWA" ":2222"

key_of() { fleet_key "$1"; }
{
	echo "$GWA $(key_of 1)"
	echo "$GWB $(key_of 2)"
	echo "$FLEET_NET.2 $(key_of 2)"
	for a in "${OUTER[@]}" "${INNER[@]}"; do echo "[$a]:2222 $(key_of 3)"; done
} >"$T/kh"

chmod 755 "$T"
mkdir -m 1777 "$T/m"
U1=$(fleet_user 1) U2=$(fleet_user 2) U3=$(fleet_user 3)
cat >"$T/ssh_config" <<CFG
Host gwa
    HostName $GWA
    User $U1
Host gwb
    HostName $GWB
    User $U2
Host dead
    HostName $DEAD
    User $U1
CFG
list() { # list ADDR...: -w list of targets
	local a out=
	for a in "$@"; do out+="${out:+,}$U3@$a:2222"; done
	echo "$out"
}

agent_with "$KEY"

logins() { grep -c "Accepted publickey for $2" "$1" 2>/dev/null || true; }

# The control: the inner hosts are reachable neither directly nor from A.
mu run --connect-timeout 5 --json -w "$(list "${INNER[0]}")" -- true
assert_eq 3 "$rc" "an inner target reachable directly (test set-up): $(cat "$T/out" "$T/err")"
mu run --connect-timeout 5 --json --relay gwa -w "$(list "${INNER[0]}")" -- true
assert_eq 3 "$rc" "an inner target reachable from gateway A (test set-up): $(cat "$T/out" "$T/err")"
ok "the inner targets are reachable only from gateway B"

# An inventory: hosts behind A, hosts behind A then B, a direct host, in
# one run; each host's route in -v.
{
	echo "[outer]"
	for i in 0 1; do echo "o$i ansible_host=${OUTER[$i]} ansible_port=2222 ansible_user=$U3"; done
	echo "[outer:vars]"
	echo "relay=gwa"
	echo "[inner]"
	for i in 0 1 2; do echo "i$i ansible_host=${INNER[$i]} ansible_port=2222 ansible_user=$U3"; done
	echo "[inner:vars]"
	echo "relay=gwa,gwb"
	echo "[direct]"
	echo "d2 ansible_host=$FLEET_NET.2 ansible_user=$U2"
} >"$T/inv"
a_before=$(logins "$T/gwa.log" "$U1")
agent_reqs() { grep -c "req auth-agent-req@openssh.com" "$T/gwa.log" 2>/dev/null || true; }
fwd_before=$(agent_reqs)
b_before=$(logins "$T/gwb.log" "$U2")
mu run -v -i "$T/inv" --json -- "echo \$(id -un)"
assert_eq 0 "$rc" "relays behind relays in an inventory: $(cat "$T/out" "$T/err")"
assert_eq 6 "$(grep -c '"status":"ok"' "$T/out")" "every host ran: $(cat "$T/out")"
for i in 0 1 2; do
	assert_contains "$(cat "$T/err")" "i$i:2222: via relay gwa,gwb" "-v: i$i's route"
done
assert_contains "$(cat "$T/err")" "o0:2222: via relay gwa" "-v: o0's route"
assert_contains "$(cat "$T/err")" "relay gwa,gwb: up" "-v: the inner relay up"
grep -q "d2: via relay" "$T/err" && fail "the direct host went through a relay"
# Gateway A: the outer relay's session and the jump to B (no relay of B's
# hosts on A); gateway B: its relay's one session for its 3 hosts.
assert_eq 2 "$(($(logins "$T/gwa.log" "$U1") - a_before))" "gateway A: two sessions (its relay, the way to B)"
assert_eq 1 "$(($(logins "$T/gwb.log" "$U2") - b_before))" "gateway B: one session for its 3 hosts"
assert_eq 3 "$(logins "$T/inner-targets.log" "$U3")" "each inner target logged in once, from B"
assert_eq 1 "$(($(agent_reqs) - fwd_before))" "gateway A: the agent forwarded on its relay's session only, not on the way to B"
ok "one run: hosts behind A, behind A then B, and direct"

# Push through both levels: each chunk crosses the inner relay's link once
# (the controller counts what it writes toward it).
head -c 8000000 /dev/urandom >"$T/payload8"
mu push -v --relay gwa,gwb -w "$(list "${INNER[@]}")" "$T/payload8" "$T/m/pushed8"
assert_eq 0 "$rc" "push through A then B: $(cat "$T/out" "$T/err")"
assert_file_eq "$T/payload8" "$T/m/pushed8" "pushed through A then B"
sent=$(sed -n 's/.*relay gwa,gwb: \([0-9]*\) bytes sent.*/\1/p' "$T/err" | tail -1)
[ -n "$sent" ] || fail "no link byte count with -v: $(cat "$T/err")"
[ "$sent" -ge 8000000 ] || fail "the inner relay's link carried $sent bytes, less than the file"
[ "$sent" -lt 16000000 ] || fail "the inner relay's link carried $sent bytes for an 8 MB file to 3 hosts"
ok "push of 8 MB to 3 hosts behind A then B: $sent bytes over the link"

# A changed key of a host behind B: refused by B's relay against the
# controller's known_hosts, the others go on.
{
	echo "[${INNER[0]}]:2222 $(key_of 4)"
	grep -v "^\[${INNER[0]}\]:2222 " "$T/kh"
} >"$T/kh_changed"
KHF=$T/kh_changed mu run --json --relay gwa,gwb -w "$(list "${INNER[@]}")" -- "touch $T/m/changed-\$\$"
assert_eq 3 "$rc" "a changed key behind B: $(cat "$T/out" "$T/err")"
assert_contains "$(grep -F "\"host\":\"${INNER[0]}:2222\"" "$T/out")" '"status":"hostkey"' "the changed key is what failed"
assert_contains "$(grep -F "\"host\":\"${INNER[0]}:2222\"" "$T/out")" "via relay gwa,gwb: " "it names the whole route"
assert_eq 2 "$(grep -c '"status":"ok"' "$T/out")" "the other hosts behind B"
assert_eq 2 "$(find "$T/m" -name 'changed-*' | wc -l)" "ran on the two others only"
# B's own key changed: the controller refuses B itself, end to end.
{
	echo "$GWB $(key_of 4)"
	grep -v "^$GWB " "$T/kh"
} >"$T/kh_gwb"
KHF=$T/kh_gwb mu run --json --relay gwa,gwb -w "$(list "${INNER[@]}")" -- true
assert_eq 3 "$rc" "gateway B's key changed: $(cat "$T/out" "$T/err")"
assert_eq 3 "$(grep -c '"status":"unreachable".*via relay gwa,gwb: ' "$T/out")" "gateway B's key changed: its hosts fail via the route: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "via relay gwa,gwb: HOST KEY CHANGED" "gateway B's key changed: says so"
ok "changed keys behind and of the inner gateway are refused, naming the route"

# A dead outer gateway fails everything behind it, naming the route.
mu run --json --connect-timeout 3 --relay dead,gwb -w "$(list "${INNER[@]}")" -- "touch $T/m/viadead"
assert_eq 3 "$rc" "a dead outer gateway: $(cat "$T/out" "$T/err")"
[[ -e $T/m/viadead ]] && fail "a dead outer gateway: the command ran"
assert_eq 3 "$(grep -c '"status":"unreachable".*via relay dead,gwb: ' "$T/out")" "a dead outer gateway: every host via the route: $(cat "$T/out")"
ok "a dead outer gateway fails every host behind it, naming the route"

# The inner relay killed mid-run: its hosts fail at once naming the route;
# the hosts behind A alone, and the direct one, go on and finish.
relay_sha=$(sha256sum "$BUILD_DIR/bin/muster-relay" | cut -d' ' -f1)
relay_pids() {
	local p
	for p in $(ip netns pids "$1"); do
		[[ $(readlink "/proc/$p/exe" 2>/dev/null) == *"muster-agent-$relay_sha"* ]] && echo "$p"
	done
	return 0
}
rm -f "$T/m/"*
set +e
"$MUSTER" run -F "$T/ssh_config" --known-hosts "$T/kh" -i "$T/inv" --json \
	-- "touch $T/m/started-\$(id -un)-\$\$; while [ ! -e $T/m/go ]; do sleep 0.1; done; touch $T/m/done-\$\$" \
	>"$T/out" 2>"$T/err" &
RUN=$!
set -e
for _ in $(seq $((300 * SLOW))); do
	(($(find "$T/m" -name 'started-*' | wc -l) == 6)) && break
	sleep 0.1
done
assert_eq 6 "$(find "$T/m" -name 'started-*' | wc -l)" "the commands started: $(cat "$T/err")"
pids=$(relay_pids "$NSB")
[[ -n $pids ]] || fail "no relay process found in the inner namespace"
kill -9 $pids
touch "$T/m/go"
set +e
wait $RUN
rc=$?
set -e
assert_eq 1 "$rc" "the inner relay killed mid-run: $(cat "$T/out" "$T/err")"
assert_eq 3 "$(grep -c '"status":"failed".*"error":"lost after the command started (it may have run): via relay gwa,gwb: the relay.s connection ended"' "$T/out")" "the inner hosts fail via the route: $(cat "$T/out")"
assert_eq 3 "$(grep -c '"status":"ok"' "$T/out")" "the outer and direct hosts finish: $(cat "$T/out")"
ok "the inner relay killed mid-run: its hosts fail via relay gwa,gwb, the others finish"

# The daemon holds both relays and the hosts behind them; --status shows
# each relay and each host's route; a run uses them.
export MUSTER_DAEMON_SOCKET=$T/d/daemon.sock
mkdir -p "$T/d"
C=(-F "$T/ssh_config" --known-hosts "$T/kh")
st() {
	"$MUSTER" daemon --status --json >"$T/st" 2>"$T/st.err" ||
		fail "daemon --status: $(cat "$T/st.err")"
}
jq_st() { python3 -c "import json,sys; d=json.load(open('$T/st')); $1"; }
"$MUSTER" daemon "${C[@]}" -i "$T/inv" >"$T/start" 2>&1 ||
	fail "daemon start: $(cat "$T/start")"
at_exit '"$MUSTER" daemon --stop >/dev/null 2>&1'
for _ in $(seq $((300 * SLOW))); do
	st
	(($(jq_st 'print(sum(h["state"]=="ready" for h in d["hosts"]))') == 6)) && break
	sleep 0.2
done
assert_eq 6 "$(jq_st 'print(sum(h["state"]=="ready" for h in d["hosts"]))')" "the daemon's hosts ready: $(cat "$T/st")"
assert_eq "gwa up,gwa,gwb up" "$(jq_st 'print(",".join(sorted(r["relay"]+" "+r["state"] for r in d["relays"])))')" "--status: both relays"
assert_eq "via relay gwa,gwb" "$(jq_st 'print([h["route"] for h in d["hosts"] if h["host"].endswith("'"${INNER[0]}"':2222")][0])')" "--status: an inner host's route"
"$MUSTER" run "${C[@]}" -i "$T/inv" -- "touch $T/m/w-\$\$" >"$T/out" 2>"$T/err" ||
	fail "a run through the daemon: $(cat "$T/out" "$T/err")"
assert_eq 6 "$(find "$T/m" -name 'w-*' | wc -l)" "ran on every host through the daemon"
ok "the daemon holds relays behind relays and the hosts behind them"

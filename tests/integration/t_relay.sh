#!/usr/bin/env bash
# Hosts behind a relay (controller/host/relay.h): muster-relay bootstrapped on
# a gateway over SSH, the operator's ssh-agent forwarded on the relay's
# session only, the hosts' keys checked against the controller's
# known_hosts, held in the relay's memory (a changed key refused, an
# unknown one refused even with --accept-new), a relay killed mid-run or never reached failing its hosts
# "via relay", and the hosts never reached directly.
#
# As t_bastion: the targets' sshd runs in a network namespace this test
# creates (one sshd on every address of the namespace's loopback, port
# 2222); the gateway is a socat listener in the root namespace that starts
# the gateway's `sshd -i` inside the namespace, where the relay then runs.
# Nothing listens on the targets' addresses in the root namespace.
. "$(dirname "$0")/lib.sh"

command -v socat >/dev/null || fail "socat is not installed (deploy/install-deps)"
command -v ssh-agent >/dev/null || fail "ssh-agent is not installed"
((EUID == 0)) || fail "needs root for ip netns"

ns_new muster-relay

GW=$FLEET_NET.221   # root namespace: socat -> sshd -i in the namespace
DEAD=$FLEET_NET.219 # nothing listens
N=8
TARGETS=()
for i in $(seq 111 $((110 + N))); do TARGETS+=("$FLEET_NET.$i"); done

ns_sshd_config 3 "$T/targets.conf" "0.0.0.0:2222"
# A second host key type on the targets: the relay must ask for the type
# the controller pinned (it has no known_hosts file for libssh to read).
ssh-keygen -q -t ecdsa -N '' -f "$T/tk_ecdsa" >/dev/null
echo "HostKey $T/tk_ecdsa" >>"$T/targets.conf"
# The last target's sessions wait, after authentication, until
# $T/release exists (the --max-startups step below holds it there).
SLOWT=${TARGETS[N - 1]}
cat >>"$T/targets.conf" <<CFG
Match LocalAddress $SLOWT
    ForceCommand /bin/sh -c 'while [ ! -e $T/release ]; do sleep 0.1; done; exec /bin/sh -c "\$SSH_ORIGINAL_COMMAND"'
CFG
touch "$T/release"
ns_sshd_config 1 "$T/gw.conf"
ip netns exec "$NS" /usr/sbin/sshd -f "$T/targets.conf" -E "$T/targets.log"
ns_way_in "$GW" "$T/gw.conf" "$T/gw.log"
ns_wait "$GW" ":2222"

key_of() { fleet_key "$1"; }
{
	echo "$GW $(key_of 1)"
	echo "$FLEET_NET.2 $(key_of 2)"
	for a in "${TARGETS[@]}"; do echo "[$a]:2222 $(key_of 3)"; done
} >"$T/kh"

chmod 755 "$T"
mkdir -m 1777 "$T/m"
U1=$(fleet_user 1) U3=$(fleet_user 3)
cat >"$T/ssh_config" <<CFG
Host gw
    HostName $GW
    User $U1
Host dead
    HostName $DEAD
    User $U1
CFG
hosts_of() { # hosts_of I...: -w list of targets I (0-based)
	local i out=
	for i in "$@"; do out+="${out:+,}$U3@${TARGETS[$i]}:2222"; done
	echo "$out"
}
ALL=$(hosts_of $(seq 0 $((N - 1))))

# The operator's agent holds the key; no -k: the relay's hosts see only
# what the agent signs for them, through the relay's session.
agent_with "$KEY"


# The control: the targets cannot be reached directly.
mu run -w "$(hosts_of 0)" -- true
assert_eq 3 "$rc" "a target is reachable directly (test set-up): $(cat "$T/out" "$T/err")"
ok "the targets are not reachable directly"

gw_sessions() { grep -c "Accepted publickey for $U1" "$T/gw.log" 2>/dev/null || true; }
target_logins() { grep -c "Accepted publickey for $U3" "$T/targets.log" 2>/dev/null || true; }

# Through the relay: every host, one gateway connection, the route in -v.
before=$(gw_sessions)
tbefore=$(target_logins)
mu run -v --relay gw -w "$ALL" -- "mktemp $T/m/r-XXXXXX"
assert_eq 0 "$rc" "$N hosts through the relay: $(cat "$T/out" "$T/err")"
assert_eq "$N" "$(find "$T/m" -name 'r-*' | wc -l)" "the command ran on every host"
assert_eq 1 "$(($(gw_sessions) - before))" "one connection to the gateway for $N hosts"
assert_eq "$N" "$(($(target_logins) - tbefore))" "each target logged in once, from the relay"
assert_contains "$(cat "$T/err")" "${TARGETS[0]}:2222: via relay gw" "-v shows the route"
assert_contains "$(cat "$T/err")" "relay gw: up" "-v shows the relay up"
ok "$N hosts through one relay"

# The relay reads no ssh_config on the gateway: the gateway user's
# ~/.ssh/config (here one that would send every host through a proxy that
# fails, with an option muster refuses) changes nothing; the hosts are
# reached as the controller's settings say.
gwhome=$(fleet_home 1)
[[ -e $gwhome/.ssh/config ]] && fail "the gateway user has a ~/.ssh/config already (test set-up)"
mkdir -p "$gwhome/.ssh"
at_exit "rm -f '$gwhome/.ssh/config'"
printf 'Host *\n    ProxyCommand /bin/false %%h\n    BindAddress 192.0.2.1\n' >"$gwhome/.ssh/config"
chown "$U1" "$gwhome/.ssh/config"
chmod 600 "$gwhome/.ssh/config"
mu run --relay gw -w "$(hosts_of 0 1)" -- true
assert_eq 0 "$rc" "a gateway-side ~/.ssh/config was applied to the relay's hosts: $(cat "$T/out" "$T/err")"
rm -f "$gwhome/.ssh/config"
ok "the relay reads no ssh_config on the gateway"

# The agents for the relay's hosts: named by hash in the setup, taken from
# the relay's cache on the gateway, asked for (RelayNeed) only when it
# lacks them, then kept there (muster-agent-<sha256>, as on any host).
gwcache=$gwhome/.cache/muster
relay_bins() { # the relay binaries: what the set links point at
	local l
	for l in "$gwcache"/muster-agent-set-*; do [[ -L $l ]] && readlink "$l"; done
}
cached_agents() { # the cached agents (not the relay), one per line
	local f keep
	keep=" $(relay_bins | tr '\n' ' ') "
	for f in "$gwcache"/muster-agent-*; do
		[[ -f $f && ! -L $f && $(basename "$f") =~ ^muster-agent-[0-9a-f]{64}$ ]] || continue
		[[ $keep == *" $(basename "$f") "* ]] || echo "$f"
	done
}
cached_agents | xargs -r rm -f
mu run -v --relay gw -w "$(hosts_of 0 1)" -- true
assert_eq 0 "$rc" "a relay whose cache lacks the agents: $(cat "$T/out" "$T/err")"
grep -Eq "relay gw: sent [0-9]+ agents? its cache lacked" "$T/err" ||
	fail "the relay did not ask for the agents it lacked: $(cat "$T/err")"
[[ -n $(cached_agents) ]] || fail "the relay kept no agent in $gwcache"
for f in $(cached_agents); do
	assert_eq "muster-agent-$(sha256sum "$f" | cut -d' ' -f1)" "$(basename "$f")" "a kept agent is the bytes its name says"
	assert_eq 700 "$(stat -c %a "$f")" "a kept agent's mode"
done
mu run -v --relay gw -w "$(hosts_of 0 1)" -- true
assert_eq 0 "$rc" "a relay with the agents cached: $(cat "$T/out" "$T/err")"
grep -q "its cache lacked" "$T/err" && fail "agents sent to a relay that has them: $(cat "$T/err")"
sent=$(sed -n 's/.*relay gw: \([0-9]*\) bytes sent.*/\1/p' "$T/err" | tail -1)
[[ -n $sent ]] || fail "no link byte count with -v: $(cat "$T/err")"
((sent < 100000)) || fail "a warm relay's run of true on 2 hosts sent $sent bytes: the agents again?"
# A cached agent that is not what its name says is not used: asked again.
f=$(cached_agents | sed -n 1p)
echo "not an agent" >"$f"
mu run -v --relay gw -w "$(hosts_of 0 1)" -- true
assert_eq 0 "$rc" "a relay whose cached agent is damaged: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/err")" "relay gw: sent 1 agent its cache lacked" "the damaged agent was sent again"
assert_eq "muster-agent-$(sha256sum "$f" | cut -d' ' -f1)" "$(basename "$f")" "the damaged agent was replaced"
ok "a relay takes its hosts' agents from its cache, asks only for what it lacks ($sent bytes for a warm run)"

# --max-startups counts a host behind a relay only until it is
# authenticated, as a direct one (the relay says when: HostAuthed): with
# --max-startups 1, a host whose session hangs after authentication does
# not hold back the next one. Before, a relayed host counted until its
# agent was ready, and set-ups through a relay went at half the rate.
rm "$T/release"
(
	mu run -v --max-startups 1 --connect-timeout $((40 * SLOW)) --relay gw -w "$(hosts_of $((N - 1)) 0)" -- "mktemp $T/m/ms-XXXXXX"
	echo "$rc" >"$T/ms.rc"
) &
ms=$!
for _ in $(seq $((200 * SLOW))); do # well within the connect timeout
	[[ -n $(find "$T/m" -name 'ms-*') ]] && break
	sleep 0.1
done
touch "$T/release"
n_before=$(find "$T/m" -name 'ms-*' | wc -l)
wait "$ms"
assert_eq 1 "$n_before" "--max-startups 1: the second host ran while the first hung after authentication: $(cat "$T/out" "$T/err")"
assert_eq 0 "$(cat "$T/ms.rc")" "--max-startups 1 through the relay: $(cat "$T/out" "$T/err")"
assert_eq 2 "$(find "$T/m" -name 'ms-*' | wc -l)" "--max-startups 1: both hosts ran"
assert_contains "$(cat "$T/err")" "${TARGETS[0]}:2222: connected " "-v: the relay's connection times"
grep -q "${TARGETS[0]}:2222: connected 0 ms, authenticated 0 ms" "$T/err" && fail "-v: the relayed host's times are the relay's: $(cat "$T/err")"
ok "--max-startups counts a relayed host until it authenticates, as a direct one"

# What the controller counts as in flight on an SSH session (handed to
# libssh, not yet on the wire) is an estimate per packet, above the real
# overhead: on a long-lived link written in many small pieces it drifted
# up to the bound and the link never wrote again (a push to 1,000 hosts
# behind two relays: every host failed, the relays silent). With the bound
# at 8 KiB, 1,500 lines fed one at a time cross the relay's link in as many
# writes: the count must come back whenever libssh has sent everything.
set +e
python3 -c '
import sys, time
for i in range(1500):
    sys.stdout.write("line %d\n" % i)
    sys.stdout.flush()
    time.sleep(0.002)
' | MUSTER_SSH_INFLIGHT_MAX=8192 timeout -s KILL $((120 * SLOW)) "$MUSTER" run -F "$T/ssh_config" \
	--known-hosts "$T/kh" "${MU_OPTS[@]}" --stdin --relay gw -w "$(hosts_of 0)" -- wc -l >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 0 "$rc" "1,500 small writes on a relay's link with an 8 KiB in-flight bound: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/out")" ": 1500" "every line crossed the relay"
ok "a relay's link written in 1,500 small pieces keeps going (the in-flight count does not drift)"

# The inventory's relay=: a group behind the relay, a host direct, in one
# run; the route per host in -v and --list-hosts.
{
	echo "[behind]"
	for i in 0 1 2; do
		echo "t$i ansible_host=${TARGETS[$i]} ansible_port=2222 ansible_user=$U3"
	done
	echo "[behind:vars]"
	echo "relay=gw"
	echo "[direct]"
	echo "d2 ansible_host=$FLEET_NET.2 ansible_user=$(fleet_user 2)"
} >"$T/inv"
before=$(gw_sessions)
mu run -v -i "$T/inv" -- "echo \$(id -un)"
assert_eq 0 "$rc" "relay= in an inventory: $(cat "$T/out" "$T/err")"
assert_eq 3 "$(grep -c "^t[0-2]:2222: $U3\$" "$T/out")" "the group behind the relay ran: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "d2: $(fleet_user 2)" "the direct host ran"
assert_contains "$(cat "$T/err")" "t0:2222: via relay gw" "-v: t0 through the relay"
grep -q "d2: via relay" "$T/err" && fail "the direct host went through the relay"
assert_eq 1 "$(($(gw_sessions) - before))" "one relay connection for the group"
mu run --list-hosts -i "$T/inv"
assert_contains "$(cat "$T/out")" "relay gw ($T/inv:" "--list-hosts shows the relay"
ok "relay= in an inventory: the group through the relay, the rest direct"

# Output, JSON and exit status as direct: a command's output, and a host
# whose command fails.
mu run --json --relay gw -w "$(hosts_of 0 1)" -- "echo out-\$(id -un); test \$(id -un) = $U3 && exit 7"
assert_eq 1 "$rc" "a failing command through the relay: $(cat "$T/out" "$T/err")"
assert_eq 2 "$(grep -c '"status":"failed".*"exit_code":7' "$T/out")" "per-host exit statuses through the relay: $(cat "$T/out")"
assert_eq 2 "$(grep -c "out-$U3" "$T/out")" "per-host output through the relay"
ok "output, JSON and exit status through the relay"

# Push and pull through it.
head -c 3000000 /dev/urandom >"$T/payload"
mu push --relay gw -w "$(hosts_of 0 1 2)" "$T/payload" "$T/m/pushed"
assert_eq 0 "$rc" "push through the relay: $(cat "$T/out" "$T/err")"
assert_file_eq "$T/payload" "$T/m/pushed" "pushed through the relay"
mkdir "$T/pulled"
mu pull --relay gw -w "$(hosts_of 0 1 2)" "$T/m/pushed" "$T/pulled"
assert_eq 0 "$rc" "pull through the relay: $(cat "$T/out" "$T/err")"
assert_eq 3 "$(find "$T/pulled" -type f -name pushed | wc -l)" "pulled from every host"
ok "push and pull of 3 MB through the relay"

# watch through it: samples come up through the relay (a duration that
# leaves a slow, sanitizer, build time to set up).
mu watch --relay gw -w "$(hosts_of 0 1)" --interval 1 --duration $((15 * SLOW)) --json
assert_eq 0 "$rc" "watch through the relay: $(cat "$T/out" "$T/err")"
for i in 0 1; do
	grep -qF "\"host\":\"${TARGETS[$i]}:2222\",\"ts\"" "$T/out" || fail "watch through the relay: no sample from ${TARGETS[$i]}: $(cat "$T/out" "$T/err")"
done
ok "watch through the relay"

# A changed target key: refused by the relay against our known_hosts.
{
	echo "[${TARGETS[0]}]:2222 $(key_of 4)"
	grep -v "^\[${TARGETS[0]}\]:2222 " "$T/kh"
} >"$T/kh_changed"
KHF=$T/kh_changed mu run --json --relay gw -w "$(hosts_of 0 1 2)" -- "touch $T/m/changed-\$(hostname)-\$\$"
assert_eq 3 "$rc" "a changed target key: $(cat "$T/out" "$T/err")"
assert_contains "$(grep -F "\"host\":\"${TARGETS[0]}:2222\"" "$T/out")" '"status":"hostkey"' "the changed key is what failed"
assert_contains "$(grep -F "\"host\":\"${TARGETS[0]}:2222\"" "$T/out")" "via relay gw: " "the changed key's host says via relay"
# The operator's file and line, not the relay's in-memory copy.
assert_contains "$(grep -F "\"host\":\"${TARGETS[0]}:2222\"" "$T/out")" "does not match $T/kh_changed:1." "the changed key names the controller's known_hosts line"
assert_eq 2 "$(grep -c '"status":"ok"' "$T/out")" "the other hosts behind the relay"
ok "a changed key behind the relay is refused"

# A target pinned by its ecdsa key only: the relay asks for that type
# (libssh's default would be ed25519, "changed"), and the run goes on.
{
	echo "[${TARGETS[0]}]:2222 $(cut -d' ' -f1,2 "$T/tk_ecdsa.pub")"
	grep -v "^\[${TARGETS[0]}\]:2222 " "$T/kh"
} >"$T/kh_ecdsa"
KHF=$T/kh_ecdsa mu run --json --relay gw -w "$(hosts_of 0 1)" -- true
assert_eq 0 "$rc" "a target pinned by its ecdsa key through the relay: $(cat "$T/out" "$T/err")"
ok "the relay offers the host key type the controller pinned"

# A host not in known_hosts: refused even with --accept-new (the relay
# never trusts on first use), and nothing recorded.
grep -v "^\[${TARGETS[1]}\]:2222 " "$T/kh" >"$T/kh_unknown"
cp "$T/kh_unknown" "$T/kh_unknown.before"
KHF=$T/kh_unknown mu run --accept-new --json --relay gw -w "$(hosts_of 1 2)" -- true
assert_eq 3 "$rc" "an unknown target with --accept-new: $(cat "$T/out" "$T/err")"
assert_contains "$(grep -F "\"host\":\"${TARGETS[1]}:2222\"" "$T/out")" '"status":"hostkey"' "the unknown key is refused"
assert_contains "$(grep -F "\"host\":\"${TARGETS[1]}:2222\"" "$T/out")" "via relay gw: " "the unknown key's host says via relay"
assert_contains "$(grep -F "\"host\":\"${TARGETS[1]}:2222\"" "$T/out")" "(not in $T/kh_unknown)" "the unknown key names the controller's known_hosts"
assert_eq 1 "$(grep -c '"status":"ok"' "$T/out")" "the known host behind the relay"
cmp -s "$T/kh_unknown" "$T/kh_unknown.before" || fail "--accept-new through a relay recorded a key"
ok "an unknown key behind the relay is refused, even with --accept-new"

# A private key file is never sent to a gateway: with -k and no agent, the
# hosts behind the relay fail saying to load it into ssh-agent.
SSH_AUTH_SOCK= mu run --json --relay gw -k "$KEY" -w "$(hosts_of 0 1)" -- true
assert_eq 3 "$rc" "-k without an agent: $(cat "$T/out" "$T/err")"
assert_eq 2 "$(grep -c '"status":"unreachable".*via relay gw: .*ssh-add' "$T/out")" "-k without an agent: the hosts say to use ssh-agent: $(cat "$T/out")"
ok "-k alone is refused behind a relay, naming ssh-add"

# Without the forwarded agent the gateway has no key for the targets:
# what authenticates them is the operator's agent, through the relay.
SSH_AUTH_SOCK= mu run --json --relay gw -w "$(hosts_of 0)" -- true
assert_eq 3 "$rc" "no agent: the relay cannot authenticate (test set-up): $(cat "$T/out" "$T/err")"
ok "without the operator's agent the relay reaches nothing"

# A relay that cannot be reached: every host at once, via relay.
mu run --json --connect-timeout 3 --relay dead -w "$ALL" -- "touch $T/m/viadead"
assert_eq 3 "$rc" "a dead relay: $(cat "$T/out" "$T/err")"
[[ -e $T/m/viadead ]] && fail "a dead relay: the command ran"
assert_eq "$N" "$(grep -c '"status":"unreachable".*via relay dead: ' "$T/out")" "a dead relay: every host unreachable via relay: $(cat "$T/out")"
ok "a dead relay fails all $N hosts via relay"

# A bad relay list (an empty relay in it) is a usage error naming it and
# where it came from (--relay, or the inventory's line), before anything
# connects; never taken for one host name. (Lists: t_relay_nested.)
before=$(gw_sessions)
mu run --json --relay gw,,dead -w "$(hosts_of 0 1)" -- "touch $T/m/nested"
assert_eq 2 "$rc" "--relay with a bad list: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/err")" "relay gw,,dead (--relay): bad relay list" "--relay with a bad list: says so"
echo "n0 ansible_host=${TARGETS[0]} ansible_port=2222 ansible_user=$U3 relay=gw,dead," >"$T/inv.nested"
mu run --json -i "$T/inv.nested" -- "touch $T/m/nested"
assert_eq 2 "$rc" "relay= with a bad list: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/err")" "$T/inv.nested:1: bad relay 'gw,dead,'" "relay= with a bad list: the file and line"
echo "n0 ansible_host=${TARGETS[0]} ansible_port=2222 ansible_user=$U3 relay=gw,dead" >"$T/inv.nested"
mu run --json -J gw -i "$T/inv.nested" -- "touch $T/m/nested"
assert_eq 2 "$rc" "relay= with a list and -J: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/err")" "relay gw,dead ($T/inv.nested:1 (relay)): a list of relays cannot be combined with -J" "relay= with a list and -J: says so"
[[ -e $T/m/nested ]] && fail "a bad relay list: the command ran"
assert_eq 0 "$(($(gw_sessions) - before))" "a bad relay list: no gateway connection"
ok "a bad relay list, or a list with -J, is refused by name, with where it was asked for"

# The relay killed mid-run: its hosts fail at once, via relay, and nothing
# goes around it. Their commands had started: as for a host whose own
# connection is lost then, "failed" ("it may have run"), not "unreachable".
relay_sha=$(sha256sum "$BUILD_DIR/bin/muster-relay" | cut -d' ' -f1)
touch "$T/before-kill" # what an earlier run (of older code) left does not count
relay_pids() {
	local p
	for p in $(ip netns pids "$NS"); do
		[[ $(readlink "/proc/$p/exe" 2>/dev/null) == *"muster-agent-$relay_sha"* ]] && echo "$p"
	done
	return 0
}
set +e
"$MUSTER" run -F "$T/ssh_config" --known-hosts "$T/kh" --relay gw --json -w "$(hosts_of 0 1 2 3)" \
	-- "touch $T/m/started-\$\$; sleep 120" >"$T/out" 2>"$T/err" &
RUN=$!
set -e
for _ in $(seq $((300 * SLOW))); do
	(($(find "$T/m" -name 'started-*' | wc -l) == 4)) && break
	sleep 0.1
done
assert_eq 4 "$(find "$T/m" -name 'started-*' | wc -l)" "the commands started through the relay: $(cat "$T/err")"
pids=$(relay_pids)
[[ -n $pids ]] || fail "no relay process found in the namespace"
kill -9 $pids
set +e
wait $RUN
rc=$?
set -e
assert_eq 1 "$rc" "a relay killed mid-run: $(cat "$T/out" "$T/err")"
# It kept the controller's known_hosts lines in memory: nothing of them (a
# muster-relay-* directory, a file naming a target) is left on the gateway.
left=$(find /tmp /run/user -maxdepth 2 -user "$U1" -newer "$T/before-kill" \( -name 'muster-relay*' -o -name known_hosts \) 2>/dev/null || true)
[[ -z $left ]] || fail "a SIGKILLed relay left files on the gateway: $left"
assert_eq 4 "$(grep -c '"status":"failed".*"error":"lost after the command started (it may have run): via relay gw: the relay.s connection ended"' "$T/out")" "a relay killed mid-run: every host via relay: $(cat "$T/out")"
ok "a relay killed mid-run fails its hosts via relay, and leaves no known_hosts on the gateway"

# The relay stopped mid-run (SIGSTOP: its channel stays open, nothing
# closes): the heartbeat on its link (a Ping after each interval without a
# byte from it, MUSTER_HEARTBEAT seconds here) fails its hosts "silent",
# the direct host of the same run goes on and finishes.
{
	for i in 0 1; do
		echo "s$i ansible_host=${TARGETS[$i]} ansible_port=2222 ansible_user=$U3 relay=gw"
	done
	echo "sd ansible_host=$FLEET_NET.2 ansible_user=$(fleet_user 2)"
} >"$T/inv.stop"
rm -f "$T/m/"started-* "$T/m/"direct-done "$T/m/go"
set +e
MUSTER_HEARTBEAT=2 "$MUSTER" run -F "$T/ssh_config" --known-hosts "$T/kh" -i "$T/inv.stop" --json \
	-- "if [ \$(id -un) = $U3 ]; then touch $T/m/started-\$\$; sleep 120; else while [ ! -e $T/m/go ]; do sleep 0.1; done; touch $T/m/direct-done; fi" \
	>"$T/out" 2>"$T/err" &
RUN=$!
set -e
for _ in $(seq $((300 * SLOW))); do
	(($(find "$T/m" -name 'started-*' | wc -l) == 2)) && break
	sleep 0.1
done
assert_eq 2 "$(find "$T/m" -name 'started-*' | wc -l)" "the commands started through the relay: $(cat "$T/err")"
pids=$(relay_pids)
[[ -n $pids ]] || fail "no relay process found in the namespace"
kill -STOP $pids
at_exit "kill -9 $pids 2>/dev/null"
touch "$T/m/go" # the direct host's command finishes while the relay is stopped
set +e
wait $RUN
rc=$?
set -e
kill -9 $pids 2>/dev/null || true
assert_eq 1 "$rc" "a relay stopped mid-run: $(cat "$T/out" "$T/err")"
assert_eq 2 "$(grep -c '"status":"failed".*"error":"lost after the command started (it may have run): via relay gw: silent for 6 s"' "$T/out")" "a relay stopped mid-run: its hosts fail silent: $(cat "$T/out")"
assert_contains "$(grep -F '"host":"sd"' "$T/out")" '"status":"ok"' "the direct host went on: $(cat "$T/out")"
[[ -e $T/m/direct-done ]] || fail "the direct host's command did not finish"
ok "a relay stopped mid-run: its hosts fail via relay gw: silent for 6 s, the direct host finishes"

# The controller's ssh_config for hosts behind a relay (relayhost.h): never
# dropped. HostName, Port and User are resolved here and the relay connects
# to the result; a proxy, a session option the relay's libssh would not get
# or a key that is not in the forwarded agent fails that host, naming the
# line, while the others go on.
ssh-keygen -q -t ed25519 -N '' -f "$T/other_key"
{
	cat "$T/ssh_config"
	cat <<CFG
Host alias0
    HostName ${TARGETS[0]}
    Port 2222
    User $U3
Host viajump
    HostName ${TARGETS[1]}
    ProxyJump gw
Host withcipher
    HostName ${TARGETS[2]}
    Ciphers aes256-ctr
Host withkey
    HostName ${TARGETS[3]}
    IdentityFile $KEY
Host otherkey
    HostName ${TARGETS[4]}
    IdentityFile $T/other_key
CFG
} >"$T/ssh_config.relayed"
cfgline() { grep -n "^Host $1\$" "$T/ssh_config.relayed" | cut -d: -f1; }
set +e
"$MUSTER" run -F "$T/ssh_config.relayed" --known-hosts "$T/kh" --relay gw --json \
	-w "alias0,$U3@viajump:2222,$U3@withcipher:2222,$U3@withkey:2222,$U3@otherkey:2222" \
	-- 'echo $(id -un)' >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 3 "$rc" "ssh_config behind a relay: $(cat "$T/out" "$T/err")"
line_of() { grep -F "\"host\":\"$1\"" "$T/out"; }
assert_contains "$(line_of alias0)" '"status":"ok"' "HostName, Port and User from ssh_config reach the relay"
assert_contains "$(line_of alias0)" "\"stdout\":\"$U3\\n\"" "the relay logged in as ssh_config's User"
assert_contains "$(line_of viajump:2222)" '"status":"unreachable"' "ProxyJump behind a relay fails the host"
assert_contains "$(line_of viajump:2222)" "via relay gw: ssh_config $T/ssh_config.relayed:$(($(cfgline viajump) + 2)): ProxyJump gw applies to viajump" "ProxyJump's file and line are named"
assert_contains "$(line_of withcipher:2222)" "line $(($(cfgline withcipher) + 2)): Ciphers applies to withcipher" "Ciphers behind a relay is refused by name"
assert_contains "$(line_of withkey:2222)" '"status":"ok"' "an IdentityFile whose key is in the forwarded agent is used"
assert_contains "$(line_of otherkey:2222)" "IdentityFile $T/other_key is not in your ssh-agent" "an IdentityFile not in the agent is refused"
assert_contains "$(line_of otherkey:2222)" "ssh-add $T/other_key" "... saying ssh-add"
ok "the controller's ssh_config behind a relay: HostName/Port/User carried, ProxyJump, Ciphers and a key not in the agent refused by name"

# -o and agent_dir are not silently dropped behind a relay either.
mu run --json --relay gw -o Ciphers=aes256-ctr -w "$(hosts_of 0)" -- true
assert_eq 3 "$rc" "-o behind a relay: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/out")" "via relay gw: -o Ciphers: not applied to" "-o Ciphers is refused behind a relay"
mu run --json --relay gw --agent-dir /tmp/x -w "$(hosts_of 0)" -- true
assert_eq 3 "$rc" "--agent-dir behind a relay: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/out")" "agent_dir /tmp/x (--agent-dir) is not applied behind relay gw" "--agent-dir is refused behind a relay"
ok "-o and --agent-dir are refused behind a relay, by name"

# One budget for the whole run: the controller paces every set-up, relayed
# or direct, against --fanout (a relayed host's set-up lasts until its
# agent is ready), so with --fanout 1 the relay opens the targets' sessions
# one after another: in the targets' sshd log no connection begins before
# the one before it started its session. ClusterShell's faults this avoids:
# a global fanout copied to every gateway (#324), fanout 1 with gateways
# hanging (#322).
: >"$T/targets.log"
{
	for i in 0 1 2 3; do
		echo "f$i ansible_host=${TARGETS[$i]} ansible_port=2222 ansible_user=$U3 relay=gw"
	done
	echo "fd ansible_host=$FLEET_NET.2 ansible_user=$(fleet_user 2)"
} >"$T/inv.fanout"
mu run --fanout 1 -i "$T/inv.fanout" -- true
assert_eq 0 "$rc" "--fanout 1 with a relay and a direct host: $(cat "$T/out" "$T/err")"
python3 - "$T/targets.log" <<'PY' || fail "--fanout 1: the relay overlapped set-ups: $(grep -E '^(Connection from|Starting session)' "$T/targets.log")"
import sys
events = [l.split()[0] for l in open(sys.argv[1]) if l.startswith(("Connection from", "Starting session"))]
conns = events.count("Connection")
assert conns == 4, f"{conns} connections"
# Each connection's session starts before the next connection begins.
for a, b in zip(events, events[1:]):
    assert not (a == "Connection" and b == "Connection"), events
PY
ok "--fanout 1 is one budget across a relay and a direct host: set-ups one at a time, the run finishes"

# Bytes once per relay: a push to every host behind the relay sends each
# chunk over the relay's link once; the relay fans it out. The controller
# counts the link bytes it writes toward the relay (-v: "relay gw: N bytes
# sent"); per-host copies would make that N times the file.
head -c 8000000 /dev/urandom >"$T/payload8"
mu push -v --relay gw -w "$ALL" "$T/payload8" "$T/m/pushed8"
assert_eq 0 "$rc" "push of 8 MB to every host behind the relay: $(cat "$T/out" "$T/err")"
assert_file_eq "$T/payload8" "$T/m/pushed8" "pushed through the relay to every host"
sent=$(sed -n 's/.*relay gw: \([0-9]*\) bytes sent.*/\1/p' "$T/err" | tail -1)
[ -n "$sent" ] || fail "no link byte count with -v: $(cat "$T/err")"
[ "$sent" -ge 8000000 ] || fail "the relay's link carried $sent bytes, less than the file"
[ "$sent" -lt 16000000 ] || fail "the relay's link carried $sent bytes for an 8 MB file to $N hosts: chunks cross it once per host"
ok "push of 8 MB to $N hosts behind a relay: $sent bytes over its link"

# A controller's blobs are bounded and checked on the relay: a bad Blob,
# blobs past 64 MiB, a BlobSend outside its blob and a BlobDrop of an
# unknown blob each end the link with the reason, never a crash.
cat >"$T/blobs.py" <<'PY'
import struct, subprocess, sys

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
def fbytes(num, b): return varint(num << 3 | 2) + varint(len(b)) + b
def control(msg): return struct.pack(">II", 0xFFFFFFFF, len(msg)) + msg
# RelaySetup{agents [{x86_64, a stand-in}], verbose 1}: no host is reached.
SETUP = control(fbytes(10, fbytes(1, fbytes(1, b"x86_64") + fbytes(2, b"stand-in")) + fint(6, 1)))
HELLO = control(fbytes(1, fint(1, 1) + fbytes(2, b"0" * 64)))
def blob(i, n): return control(fbytes(11, fint(1, i) + fbytes(2, b"x" * n)))
def blob_send(host, stream, b, off, n):
    return control(fbytes(12, fint(1, host) + fint(2, stream) + fint(3, b) + fint(4, off) + fint(5, n)))
def blob_drop(i): return control(fbytes(13, fint(1, i)))
def ping(seq): return control(fbytes(14, fint(1, seq)))
def packed(num, vals): return fbytes(num, b"".join(varint(v) for v in vals))
def zz(v): return (v << 1) ^ (v >> 31)
def blob_sends(hosts, streams, blobs, repeat):
    return control(fbytes(17, packed(1, map(zz, hosts)) + packed(2, map(zz, streams)) +
                           packed(3, map(zz, blobs)) + (packed(4, repeat) if repeat else b"")))
# The same at verbose 0: the relay's daemon logs nowhere, but its last words
# still reach stderr (the controller shows them when the link ends).
SETUP_QUIET = control(fbytes(10, fbytes(1, fbytes(1, b"x86_64") + fbytes(2, b"stand-in"))))
if sys.argv[2] == "stall":
    # Half a frame, then nothing for 3 s with the stall deadline at 1 s:
    # a relay does not drop its controller for that (its link has the
    # controller's heartbeat); it ends when the link does.
    import os, time
    p = subprocess.Popen([sys.argv[1], "--stdio"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=dict(os.environ, MUSTER_DAEMON_STALL_TIMEOUT="1"))
    p.stdin.write(SETUP_QUIET + HELLO + blob(1, 5000)[:3000])
    p.stdin.flush()
    time.sleep(3)
    p.stdin.close()
    sys.stdout.write(p.stderr.read().decode(errors="replace"))
    p.wait(timeout=60)
    sys.exit(0)
if sys.argv[2] in ("quiet", "eof"):
    p = subprocess.run([sys.argv[1], "--stdio"],
                       input=SETUP_QUIET + HELLO + (blob(0, 100) if sys.argv[2] == "quiet" else b""),
                       capture_output=True, timeout=60)
    sys.stdout.write(p.stderr.decode(errors="replace"))
    sys.exit(0)
if sys.argv[2] == "ping":
    # The heartbeat's answer: Pong{seq} (Control field 15), whole, on stdout.
    p = subprocess.run([sys.argv[1], "--stdio"], input=SETUP + HELLO + ping(7) + ping(300),
                       capture_output=True, timeout=60)
    for seq in (7, 300):
        want = control(fbytes(15, fint(1, seq)))
        print("pong %d %s" % (seq, want in p.stdout))
    sys.exit(0)
cases = {
    "id0": blob(0, 100),
    "twice": blob(1, 100) + blob(1, 100),
    "past": b"".join(blob(i, 1000000) for i in range(1, 70)),
    "outside": blob(1, 100) + blob_send(1, 1, 1, 50, 51),
    "drop": blob(1, 100) + blob_drop(2),
    # A repeat list not as long as the others; repeats past 4,096 frames
    # in one message (refused before any is handled).
    "uneven": blob(1, 100) + blob_sends([1, 1], [1, 0], [1, 0], [3]),
    "many": blob(1, 100) + blob_sends([1, 0], [1, 0], [1, 0], [0, 4095]),
    # A next entry for an attached host that has had no entry: the relay
    # knows no blob to follow on (the host, on a closed port, is never
    # reached: the message comes first).
    "nextfirst": control(fbytes(3, fint(1, 1) + fbytes(2, fbytes(1, b"127.0.0.1") + fint(3, 1))))
                 + blob(1, 100) + control(fbytes(17, packed(5, [1]))),
}
p = subprocess.run([sys.argv[1], "--stdio"], input=SETUP + HELLO + cases[sys.argv[2]],
                   capture_output=True, timeout=60)
print("rc %d signal %s" % (p.returncode, p.returncode < 0))
sys.stdout.write(p.stderr.decode(errors="replace"))
PY
for c in id0:"bad blob" twice:"bad blob" past:"blobs past the relay's limit (64 MiB)" outside:"blob for a host never attached" drop:"drop of an unknown blob" uneven:"blob sends of uneven lists" many:"blob sends of too many frames" nextfirst:"next blob send with no blob before"; do
	out=$(python3 "$T/blobs.py" "$BUILD_DIR/bin/muster-relay" "${c%%:*}" 2>&1)
	assert_contains "$out" "client dropped: ${c#*:}" "blob case ${c%%:*}: $out"
	assert_contains "$out" "signal False" "blob case ${c%%:*} ended the relay by a signal: $out"
done
ok "bad blobs, and blobs past the relay's 64 MiB, end the link with the reason"
out=$(python3 "$T/blobs.py" "$BUILD_DIR/bin/muster-relay" quiet 2>&1)
assert_eq "$out" "muster-relay: dropped the controller's link: bad blob" "a quiet relay's last words: $out"
out=$(python3 "$T/blobs.py" "$BUILD_DIR/bin/muster-relay" eof 2>&1)
assert_eq "$out" "muster-relay: dropped the controller's link: the link ended" "a quiet relay's last words at EOF: $out"
ok "a relay at verbose 0 says why it dropped the controller's link, and only that"
out=$(python3 "$T/blobs.py" "$BUILD_DIR/bin/muster-relay" stall 2>&1)
assert_eq "$out" "muster-relay: dropped the controller's link: the link ended" "a relay waiting mid-frame: $out"
ok "a relay waits for the rest of a frame as long as its link lives (no stall deadline)"
out=$(python3 "$T/blobs.py" "$BUILD_DIR/bin/muster-relay" ping 2>&1)
assert_contains "$out" "pong 7 True" "the relay answers a Ping: $out"
assert_contains "$out" "pong 300 True" "the relay answers a Ping with its seq: $out"
ok "the relay answers the heartbeat's Ping with a Pong of the same seq"

#!/usr/bin/env bash
# The fleet simulator (tests/simfleet) at a size CI affords: 200 simulated
# hosts (MUSTER_SIMFLEET_HOSTS: tests/run runs the full size in the
# optimised build and 48 in the sanitizer build) served by one process, each with its own address, host key and
# home, reached by muster over SSH, the real agent uploaded to and started
# on every one; and a host whose key changed (simfleet --changed-key) is
# refused and runs nothing; then the same hosts through a relay on a real
# sshd. bench/simfleet-scale and bench/simfleet-relay use the same tool for
# the scale figures.
. "$(dirname "$0")/lib.sh"

SIMFLEET=$BUILD_DIR/tests/simfleet
[[ -x $SIMFLEET ]] || fail "no simfleet in $BUILD_DIR/tests (build the tests)"
N=${MUSTER_SIMFLEET_HOSTS:-200}
# More than --fanout 32 below, so that hosts wait for a free slot.
[[ $N =~ ^[0-9]+$ ]] && ((N > 32)) ||
	fail "MUSTER_SIMFLEET_HOSTS: expected a number of hosts above 32, got '$N'"
# The simulator's own range, apart from every test fleet: 127.61.X.1-201
# with X the last octet of this fleet's net (helpers and CI differ there).
first=127.61.${FLEET_NET##*.}.1
sim=$T/sim
changed=$((N + 1))

ssh-keygen -y -f "$KEY" >"$T/authorized_keys"
"$SIMFLEET" --dir "$sim" --hosts "$changed" --first "$first" \
	--authorized-keys "$T/authorized_keys" --changed-key "$changed" \
	</dev/null >"$T/sim.log" 2>&1 &
simpid=$!
at_exit "kill $simpid 2>/dev/null; wait $simpid 2>/dev/null"
for ((i = 0; i < 600 * SLOW; i++)); do
	[[ -e $sim/ready ]] && break
	kill -0 "$simpid" 2>/dev/null || fail "simfleet ended: $(cat "$T/sim.log")"
	sleep 0.1
done
[[ -e $sim/ready ]] || fail "simfleet not ready: $(cat "$T/sim.log")"
mapfile -t hosts <"$sim/hosts"
assert_eq "$changed" "${#hosts[@]}" "one address per host"
assert_eq "$changed" "$(wc -l <"$sim/known_hosts")" "one known_hosts line per host"
assert_eq "$changed" "$(cut -d' ' -f3 "$sim/known_hosts" | sort -u | wc -l)" \
	"every host has a key of its own"
for h in "${hosts[@]}"; do
	[[ $h == 127.* ]] || fail "simulated host $h outside 127.0.0.0/8"
done
ok "simfleet: $changed hosts on loopback, a key and a known_hosts line each"

printf '%s\n' "${hosts[@]:0:N}" >"$T/good"
# One simfleet loop carries every upload: under ASan on a loaded box 200 at
# once can outlast the upload deadline, 32 at a time do not.
set +e
"$MUSTER" run --no-daemon -k "$KEY" --known-hosts "$sim/known_hosts" \
	-F /dev/null --fanout 32 --hostfile "$T/good" -- 'echo "$HOME" >marker' \
	</dev/null >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 0 "$rc" "muster run on $N simulated hosts ($(tail -n 5 "$T/err"))"
assert_contains "$(cat "$T/err")" "$N hosts: $N ok, 0 failed, 0 unreachable" "summary"
for h in "${hosts[@]:0:N}"; do
	home=$sim/home/$h
	[[ -r $home/marker ]] || fail "$h: the command did not run"
	assert_eq "$home" "$(cat "$home/marker")" "$h: the command ran in its own home"
	compgen -G "$home/.cache/muster/muster-agent-*" >/dev/null ||
		fail "$h: no agent in its cache (the real agent was not bootstrapped)"
done
ok "$N simulated hosts: all ok, each ran the command in its own home with the agent"

# The host whose key changed: refused, nothing run, the others unaffected.
bad=${hosts[N]}
set +e
"$MUSTER" run --no-daemon -k "$KEY" --known-hosts "$sim/known_hosts" \
	-F /dev/null -w "${hosts[0]},$bad" --json -- touch changed-ran \
	</dev/null >"$T/j" 2>"$T/err"
rc=$?
set -e
[[ -e $sim/home/$bad/changed-ran ]] && fail "the command ran on the host whose key changed"
[[ -e $sim/home/${hosts[0]}/changed-ran ]] || fail "the good host did not run the command"
assert_eq 3 "$rc" "exit status with a changed host key ($(cat "$T/err"))"
assert_contains "$(grep -F "\"$bad\"" "$T/j")" '"status":"hostkey"' "the changed host's status"
ok "a simulated host whose key changed is refused"

# The same simulated hosts through a relay (README "Relays"): fleet host 1's
# real sshd is the gateway, muster-relay is bootstrapped there and reaches
# the hosts; their keys come from the controller's known_hosts, the key from
# the operator's ssh-agent, forwarded on the relay's session only.
# bench/simfleet-relay measures this at scale.
eval "$(ssh-agent -s)" >/dev/null
at_exit "kill $SSH_AGENT_PID 2>/dev/null"
ssh-add -q "$KEY" 2>/dev/null
cat "$sim/known_hosts" "$KH" >"$T/kh-relay"
printf 'Host gw\n    HostName %s\n    User %s\n' "$(fleet_addr 1)" "$(fleet_user 1)" \
	>"$T/ssh_config"
set +e
"$MUSTER" run --no-daemon -v -k "$KEY" --known-hosts "$T/kh-relay" \
	-F "$T/ssh_config" --relay gw --fanout 32 --hostfile "$T/good" \
	-- 'echo relayed >relay-marker' </dev/null >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 0 "$rc" "muster run --relay on $N simulated hosts ($(tail -n 5 "$T/err"))"
assert_contains "$(cat "$T/err")" "$N hosts: $N ok, 0 failed, 0 unreachable" "summary"
assert_contains "$(cat "$T/err")" "${hosts[0]}: via relay gw" "-v shows the route"
for h in "${hosts[@]:0:N}"; do
	assert_eq relayed "$(cat "$sim/home/$h/relay-marker" 2>/dev/null)" \
		"$h: the command ran through the relay"
done
ok "$N simulated hosts through a relay on a real sshd: all ok"

#!/usr/bin/env bash
# Many hosts behind one bastion, through muster's own ProxyJump (bastion.h):
# 50 targets (as issue 13 asks) reachable only through the bastion share
# one connection to it (or more under --jump-channels), run, push and pull
# go through it, a dead bastion or a changed bastion key fails every host
# behind it "via bastion", a changed target key is refused end to end, and
# two hops.
#
# As t_jump: the targets' sshd (one, on every address of the namespace's
# own loopback, port 2222) and the second bastion's run in a network
# namespace this test creates; the way in is a socat listener in the root
# namespace that starts the first bastion's `sshd -i` in the namespace, so
# each TCP connection to the bastion is one "Accepted publickey" line in
# its log. Nothing listens on the targets' addresses in the root namespace.
. "$(dirname "$0")/lib.sh"

command -v socat >/dev/null || fail "socat is not installed (deploy/install-deps)"
((EUID == 0)) || fail "needs root for ip netns"

ns_new muster-bastion

BASTION=$FLEET_NET.220	# root namespace: socat -> sshd -i in the namespace
BASTION2=$FLEET_NET.230	# inside only
DEAD=$FLEET_NET.219	# nothing listens
# 50 targets; tests/run's sanitizer phase runs 24 (MUSTER_BASTION_HOSTS),
# the optimised one all 50: the same code, minutes less under ASan.
N=${MUSTER_BASTION_HOSTS:-50}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 10 && N <= 99)) || fail "MUSTER_BASTION_HOSTS=$N: from 10 to 99"
TARGETS=()
for i in $(seq 101 $((100 + N))); do TARGETS+=("$FLEET_NET.$i"); done

# sshd_config for one of the fleet's hosts (its key and user).
ns_sshd_config 3 "$T/targets.conf" "0.0.0.0:2222"
ns_sshd_config 2 "$T/bastion2.conf" "$BASTION2:22"
ns_sshd_config 1 "$T/bastion.conf"
ip netns exec "$NS" /usr/sbin/sshd -f "$T/targets.conf" -E "$T/targets.log"
ip netns exec "$NS" /usr/sbin/sshd -f "$T/bastion2.conf" -E "$T/bastion2.log"
ns_way_in "$BASTION" "$T/bastion.conf" "$T/bastion.log"
ns_wait "$BASTION" "$BASTION2:22" ":2222"

key_of() { fleet_key "$1"; }
{
	echo "$BASTION $(key_of 1)"
	echo "$BASTION2 $(key_of 2)"
	for a in "${TARGETS[@]}"; do echo "[$a]:2222 $(key_of 3)"; done
} >"$T/kh"

chmod 755 "$T"
mkdir -m 1777 "$T/m"
U1=$(fleet_user 1) U2=$(fleet_user 2) U3=$(fleet_user 3)
{
	cat <<CFG
Host bastion
    HostName $BASTION
    Port 22
    User $U1
    IdentityFile $KEY
Host bastion2
    HostName $BASTION2
    Port 22
    User $U2
    IdentityFile $KEY
Host dead
    HostName $DEAD
    Port 22
    User $U1
CFG
	for i in $(seq 101 $((100 + N))); do
		printf 'Host one-%s two-%s viadead-%s\n    HostName %s\n' "$i" "$i" "$i" "$FLEET_NET.$i"
	done
	cat <<CFG
Host one-*
    ProxyJump bastion
Host two-*
    ProxyJump bastion,bastion2
Host viadead-*
    ProxyJump dead
Host *
    Port 2222
    User $U3
    IdentityFile $KEY
CFG
} >"$T/ssh_config"
ALL="one-[101-$((100 + N))]"
export MUSTER_DAEMON_SOCKET=$T/no-daemon.sock

# The control: no direct route to the targets.
set +e
"$MUSTER" run -F /dev/null --known-hosts "$T/kh" -k "$KEY" -w "$U3@${TARGETS[0]}:2222" -- true >/dev/null 2>&1
rc=$?
set -e
assert_eq 3 "$rc" "a target is reachable directly (test set-up)"

# Connections the bastion accepted so far.
bastion_conns() { grep -c "Accepted publickey for $U1" "$T/bastion.log" 2>/dev/null || true; }
MU_OPTS=(-k "$KEY") # mu (lib.sh)

before=$(bastion_conns)
mu run -v -w "$ALL" -- "mktemp $T/m/r-XXXXXX" 
assert_eq 0 "$rc" "$N hosts behind one bastion: $(cat "$T/out" "$T/err")"
assert_eq "$N" "$(find "$T/m" -name 'r-*' | wc -l)" "the command ran on every host"
assert_eq 1 "$(($(bastion_conns) - before))" "one connection to the bastion for $N hosts"
assert_contains "$(cat "$T/err")" "one-101: via bastion bastion (connection" "-v shows the shared bastion connection"
ok "$N hosts behind one bastion: one bastion connection"

before=$(bastion_conns)
mu run --jump-channels 5 -w "$ALL" -- true
assert_eq 0 "$rc" "--jump-channels 5: $(cat "$T/out" "$T/err")"
n=$(($(bastion_conns) - before))
((n > 1)) || fail "--jump-channels 5: $n bastion connection(s) for $N hosts"
((n <= N)) || fail "--jump-channels 5: $n bastion connections for $N hosts"
ok "--jump-channels 5: $n bastion connections for $N hosts"

# Push and pull through it: a payload larger than the bastion's buffers,
# to every host at once.
head -c "$(vg_pick 1500000 400000)" /dev/urandom >"$T/payload"
mu push -w "$ALL" "$T/payload" "$T/m/pushed"
assert_eq 0 "$rc" "push through the bastion: $(cat "$T/out" "$T/err")"
assert_file_eq "$T/payload" "$T/m/pushed" "pushed through the bastion"
mkdir "$T/pulled"
mu pull -w "$ALL" "$T/m/pushed" "$T/pulled"
assert_eq 0 "$rc" "pull through the bastion: $(cat "$T/out" "$T/err")"
assert_eq "$N" "$(find "$T/pulled" -type f -name pushed | wc -l)" "pulled from every host"
for f in $(find "$T/pulled" -type f -name pushed); do
	cmp -s "$f" "$T/payload" || fail "pull through the bastion: $f differs"
done
ok "push and pull of $(stat -c %s "$T/payload") bytes to and from $N hosts through the bastion"

# A dead bastion: every host behind it fails at once, "via bastion": one
# try to reach it, whose failure the hosts started later in the run share
# (--max-startups 4 starts them a few at a time), not a try (and a
# back-off) each.
mu run -vv --max-startups 4 --json -w "viadead-[101-$((100 + N))]" -- "touch $T/m/viadead"
assert_eq 3 "$rc" "a dead bastion: $(cat "$T/out")"
assert_eq 1 "$(grep -c 'bastion dead #[0-9]*: init -> connecting' "$T/err")" \
	"a dead bastion: one try for $N hosts: $(grep 'bastion dead' "$T/err" | head -20)"
[[ -e $T/m/viadead ]] && fail "a dead bastion: the command ran"
assert_eq "$N" "$(grep -c '"status":"unreachable"' "$T/out")" "a dead bastion: every host unreachable"
assert_eq "$N" "$(grep -c 'via bastion dead (ProxyJump dead, ' "$T/out")" "a dead bastion: every host says via bastion"
ok "a dead bastion fails all $N hosts behind it via bastion"

# A changed bastion key: refused, every host fails saying so.
{
	echo "$BASTION $(key_of 4)"
	grep -v "^$BASTION " "$T/kh"
} >"$T/kh_bastion"
KHF=$T/kh_bastion mu run --json -w "one-[101-105]" -- "touch $T/m/badbastion"
assert_eq 3 "$rc" "a changed bastion key: $(cat "$T/out" "$T/err")"
[[ -e $T/m/badbastion ]] && fail "a changed bastion key: the command ran"
assert_eq 5 "$(grep -c '"status":"hostkey".*via bastion bastion .*HOST KEY CHANGED' "$T/out")" "a changed bastion key: the hosts say so"
ok "a changed bastion key fails every host behind it"

# A changed target key, behind a good bastion: refused end to end.
{
	echo "[${TARGETS[0]}]:2222 $(key_of 4)"
	grep -v "^\[${TARGETS[0]}\]:2222 " "$T/kh"
} >"$T/kh_target"
KHF=$T/kh_target mu run -v --json -w "one-[101-103]" -- true
assert_eq 3 "$rc" "a changed target key: $(cat "$T/out" "$T/err")"
assert_contains "$(grep '"host":"one-101"' "$T/out")" '"status":"hostkey"' "the target's key is what failed"
assert_eq 2 "$(grep -c '"status":"ok"' "$T/out")" "the other targets behind the bastion"
assert_contains "$(cat "$T/err")" "one-102: via bastion bastion (connection" "through the native bastion"
ok "a changed target key is refused end to end, through the bastion"

# Two hops: each hop's session over the previous hop's channel, shared.
before=$(bastion_conns)
before2=$(grep -c "Accepted publickey for $U2" "$T/bastion2.log" || true)
mu run -v -w "two-[101-$((100 + N))]" -- true
assert_eq 0 "$rc" "two hops: $(cat "$T/out" "$T/err")"
assert_eq 1 "$(($(bastion_conns) - before))" "two hops: one connection to the first bastion"
assert_eq 1 "$(($(grep -c "Accepted publickey for $U2" "$T/bastion2.log") - before2))" "two hops: one connection to the second"
assert_contains "$(cat "$T/err")" "two-101: via bastion bastion2 (connection" "two hops: -v"
ok "two hops: $N hosts over one connection to each bastion"

#!/usr/bin/env bash
# ProxyJump: hosts reachable only through a bastion. The targets' and the
# second bastion's sshd run in a network namespace this test creates (its
# own loopback); the way in is a socat listener in the root namespace that
# starts the first bastion's `sshd -i` inside the namespace. Nothing
# listens on the targets' addresses in the root namespace.
. "$(dirname "$0")/lib.sh"

command -v socat >/dev/null || fail "socat is not installed (deploy/install-deps)"
((EUID == 0)) || fail "needs root for ip netns"

ns_new muster-jump

BASTION=$FLEET_NET.200	# root namespace: socat -> sshd -i in the namespace
BASTION2=$FLEET_NET.210	# inside only
DEAD=$FLEET_NET.199	# nothing listens
TARGETS=($FLEET_NET.201 $FLEET_NET.202 $FLEET_NET.203)

# sshd_config for one of the fleet's hosts (its key and user), listening
# on the given addresses inside the namespace.
ns_sshd_config 3 "$T/targets.conf" "${TARGETS[@]/%/:22}"
ns_sshd_config 2 "$T/bastion2.conf" "$BASTION2:22"
ns_sshd_config 1 "$T/bastion.conf"
ip netns exec "$NS" /usr/sbin/sshd -f "$T/targets.conf" -E "$T/targets.log"
ip netns exec "$NS" /usr/sbin/sshd -f "$T/bastion2.conf" -E "$T/bastion2.log"
ns_way_in "$BASTION" "$T/bastion.conf" "$T/bastion.log"
# Wait for the way in (socat's listen) and the namespace's sshds.
ns_wait "$BASTION" "$BASTION2:22" "${TARGETS[2]}:22"

# known_hosts: the bastions and the targets under their own keys.
key_of() { fleet_key "$1"; }
{
	echo "$BASTION $(key_of 1)"
	echo "$BASTION2 $(key_of 2)"
	for a in "${TARGETS[@]}"; do echo "$a $(key_of 3)"; done
} >"$T/kh"

chmod 755 "$T"
mkdir -m 1777 "$T/m"
U1=$(fleet_user 1) U2=$(fleet_user 2) U3=$(fleet_user 3)
cat >"$T/ssh_config" <<CFG
Host bastion
    HostName $BASTION
    User $U1
    IdentityFile $KEY
Host bastion2
    HostName $BASTION2
    User $U2
    IdentityFile $KEY
Host dead
    HostName $DEAD
    User $U1
Host one
    HostName ${TARGETS[0]}
    ProxyJump bastion
Host two
    HostName ${TARGETS[1]}
    ProxyJump bastion,bastion2
Host uri
    HostName ${TARGETS[2]}
    ProxyJump $U1@$BASTION:22
Host viadead
    HostName ${TARGETS[0]}
    ProxyJump dead
Host *
    User $U3
    IdentityFile $KEY
CFG

# The control: no direct route to the targets.
set +e
"$MUSTER" run -F /dev/null --known-hosts "$T/kh" -k "$KEY" -w "$U3@${TARGETS[0]}" -- true >/dev/null 2>&1
rc=$?
set -e
assert_eq 3 "$rc" "a target is reachable directly (test set-up)"

# run_via ALIAS [KH]: touch ALIAS's marker there; sets rc.
run_via() {
	rm -f "$T/m/$1"
	set +e
	"$MUSTER" run -F "$T/ssh_config" --known-hosts "${2:-$T/kh}" -k "$KEY" -w "$1" \
		-- "touch $T/m/$1" >"$T/out" 2>"$T/err"
	rc=$?
	set -e
}

run_via one
assert_eq 0 "$rc" "one hop: $(cat "$T/out" "$T/err")"
[[ -e $T/m/one ]] || fail "one hop: the command did not run"
ok "one hop"

run_via two
assert_eq 0 "$rc" "two hops: $(cat "$T/out" "$T/err")"
[[ -e $T/m/two ]] || fail "two hops: the command did not run"
ok "two hops"

run_via uri
assert_eq 0 "$rc" "user@host:port hop: $(cat "$T/out" "$T/err")"
ok "a user@host:port hop"

echo payload >"$T/payload"
"$MUSTER" push -F "$T/ssh_config" --known-hosts "$T/kh" -k "$KEY" -w one "$T/payload" "$T/m/pushed" >/dev/null 2>"$T/err" ||
	fail "push through a bastion: $(cat "$T/err")"
assert_file_eq "$T/payload" "$T/m/pushed" "pushed through a bastion"
mkdir "$T/pulled"
"$MUSTER" pull -F "$T/ssh_config" --known-hosts "$T/kh" -k "$KEY" -w one "$T/m/pushed" "$T/pulled" >/dev/null 2>"$T/err" ||
	fail "pull through a bastion: $(cat "$T/err")"
[[ -n $(find "$T/pulled" -type f -name pushed) ]] || fail "pull through a bastion: nothing pulled"
ok "push and pull through a bastion"

run_via viadead
assert_eq 3 "$rc" "a dead bastion: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/out" "$T/err")" "ProxyJump dead" "a dead bastion: the message"
[[ -e $T/m/viadead ]] && fail "a dead bastion: the command ran"
ok "a dead bastion fails the host"

# The bastion's key: unknown, then changed. The target's key is known.
grep -v "^$BASTION " "$T/kh" >"$T/kh_nobastion"
run_via one "$T/kh_nobastion"
assert_eq 3 "$rc" "an unknown bastion key: $(cat "$T/out" "$T/err")"
[[ -e $T/m/one ]] && fail "an unknown bastion key: the command ran"
{ echo "$BASTION $(key_of 4)"; cat "$T/kh_nobastion"; } >"$T/kh_changed"
run_via one "$T/kh_changed"
assert_eq 3 "$rc" "a changed bastion key: $(cat "$T/out" "$T/err")"
[[ -e $T/m/one ]] && fail "a changed bastion key: the command ran"
ok "a bastion with an unknown or a changed host key fails the host"

# The target's key is checked end to end, through the bastion.
grep -v "^${TARGETS[0]} " "$T/kh" >"$T/kh_notarget"
{ echo "${TARGETS[0]} $(key_of 4)"; cat "$T/kh_notarget"; } >"$T/kh_badtarget"
run_via one "$T/kh_badtarget"
assert_eq 3 "$rc" "a changed target key behind the bastion: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/out" "$T/err")" "hostkey" "the target's key is what failed"
[[ -e $T/m/one ]] && fail "a changed target key: the command ran"
ok "the target's key is verified end to end"

# -J on the command line: the same route for every host, -v shows it.
rm -f "$T/m/j"*
"$MUSTER" run -v -J "$U1@$BASTION" -F /dev/null --known-hosts "$T/kh" -k "$KEY" \
	-w "$U3@${TARGETS[0]},$U3@${TARGETS[1]}" -- 'touch '"$T"'/m/j$$' >"$T/out" 2>"$T/err" ||
	fail "-J: $(cat "$T/out" "$T/err")"
assert_eq 2 "$(find "$T/m" -name 'j*' | wc -l)" "-J: the command ran on both hosts"
assert_contains "$(cat "$T/err")" "via ProxyJump $U1@$BASTION (-J)" "-v shows the route"
# -J wins over the ssh_config's ProxyJump (here a dead one).
set +e
"$MUSTER" run -J bastion -F "$T/ssh_config" --known-hosts "$T/kh" -k "$KEY" -w viadead -- "touch $T/m/jwins" >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 0 "$rc" "-J over ssh_config's ProxyJump: $(cat "$T/out" "$T/err")"
[[ -e $T/m/jwins ]] || fail "-J over ssh_config: the command did not run"
ok "-J: every host through the bastion, -v shows the route, -J wins over ssh_config"

# The inventory's route: proxy_jump=, Ansible's ansible_ssh_common_args and
# ansible_ssh_extra_args with -J, -o ProxyJump= and -o ProxyCommand=; shown
# by --list-hosts, taken by a run. Any other ssh argument there is an error
# naming the variable and its line.
cat >"$T/route.ini" <<INI
[behind]
t1 ansible_host=${TARGETS[0]} proxy_jump=$U1@$BASTION
t2 ansible_host=${TARGETS[1]} ansible_ssh_common_args='-o ProxyJump=$U1@$BASTION'
t3 ansible_host=${TARGETS[2]} ansible_ssh_common_args="-o 'ProxyCommand=ip netns exec $NS socat - TCP:%h:%p'"
[behind:vars]
ansible_user=$U3
[direct]
t4 ansible_host=${TARGETS[0]} ansible_user=$U3
INI
"$MUSTER" run --list-hosts -F /dev/null -i "$T/route.ini" -g behind -- true >"$T/list" 2>"$T/err" ||
	fail "--list-hosts with inventory routes: $(cat "$T/err")"
assert_contains "$(grep '^t1' "$T/list")" "ProxyJump $U1@$BASTION ($T/route.ini:2 (proxy_jump))" "--list-hosts: proxy_jump"
assert_contains "$(grep '^t2' "$T/list")" "ProxyJump $U1@$BASTION ($T/route.ini:3 (ansible_ssh_common_args))" "--list-hosts: -o ProxyJump"
assert_contains "$(grep '^t3' "$T/list")" "ProxyCommand ip netns exec $NS socat - TCP:%h:%p ($T/route.ini:4" "--list-hosts: -o ProxyCommand"
rm -f "$T/m/inv"*
"$MUSTER" run --no-daemon -F /dev/null --known-hosts "$T/kh" -k "$KEY" -i "$T/route.ini" -g behind \
	-- 'touch '"$T"'/m/inv$$' >"$T/out" 2>"$T/err" || fail "run through inventory routes: $(cat "$T/out" "$T/err")"
assert_eq 3 "$(find "$T/m" -name 'inv*' | wc -l)" "the command ran on the three hosts behind the bastion"
set +e
"$MUSTER" run --no-daemon -F /dev/null --known-hosts "$T/kh" -k "$KEY" -i "$T/route.ini" -g direct -- true >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 3 "$rc" "the same target without the route is unreachable (control)"
printf '[g]\nt1 ansible_host=%s\n[g:vars]\nansible_ssh_extra_args="-J %s -o StrictHostKeyChecking=no"\n' \
	"${TARGETS[0]}" "$U1@$BASTION" >"$T/badroute.ini"
set +e
"$MUSTER" run -F /dev/null --known-hosts "$T/kh" -k "$KEY" -i "$T/badroute.ini" -- true >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 2 "$rc" "an ssh option muster cannot honour in ansible_ssh_extra_args"
assert_contains "$(cat "$T/err")" "badroute.ini:4: ansible_ssh_extra_args: '-o StrictHostKeyChecking=no' is an ssh option muster cannot honour" "names the variable and FILE:LINE"
ok "inventory routes: proxy_jump, ansible_ssh_common_args -o ProxyJump/ProxyCommand; other ssh args refused"

# The bastion dies mid-run: the host behind it fails cleanly, a direct
# host next to it goes on.
H5="$(fleet_user 5)@$(fleet_addr 5)"
rm -f "$T/m/started" "$T/m/go"
cat >>"$T/ssh_config" <<CFG
Host $(fleet_addr 5)
    ProxyJump none
CFG
cat "$T/kh" "$KH" >"$T/kh_all"
set +e
"$MUSTER" run --no-daemon --json -F "$T/ssh_config" --known-hosts "$T/kh_all" -k "$KEY" -w one,"$H5" -- \
	"case \$USER in $U3) touch $T/m/started; sleep 600 ;; *) while [ ! -e $T/m/go ]; do sleep 0.1; done; echo fine ;; esac" \
	>"$T/mid.json" 2>"$T/mid.err" &
MID=$!
set -e
for _ in $(seq $((200 * SLOW))); do [[ -e $T/m/started ]] && break; sleep 0.1; done
[[ -e $T/m/started ]] || fail "mid-run: the host behind the bastion never started"
# The bastion's end goes away: socat's per-connection children (sshd -i
# renames itself, so it is found through them), not socat, the way in.
for pid in $(pgrep -P "$SOCAT"); do kill -9 "$pid"; done
touch "$T/m/go"
set +e
wait "$MID"
rc=$?
set -e
# Lost after the command started: "failed" (it may have run), exit 1.
assert_eq 1 "$rc" "mid-run: exit status ($(cat "$T/mid.err"))"
assert_contains "$(grep '"host":"one"' "$T/mid.json")" 'connection lost' "mid-run: the host behind the dead bastion"
assert_contains "$(cat "$T/mid.json")" '"status":"ok"' "mid-run: the direct host"
assert_contains "$(cat "$T/mid.json")" 'fine' "mid-run: the direct host's output"
ok "a bastion dying mid-run fails the hosts behind it, others go on"

# A User in a later block for the alias than its HostName (and ProxyJump):
# libssh 0.10 matches that block against the HostName instead, and would
# log in as the Host * user; muster refuses, naming the line.
{ printf 'Host split\n    HostName %s\n    ProxyJump bastion\nHost split\n    User %s\n' "${TARGETS[0]}" "$U2"
	cat "$T/ssh_config"; } >"$T/split_config"
set +e
"$MUSTER" run --no-daemon -F "$T/split_config" --known-hosts "$T/kh" -k "$KEY" -w split -- "touch $T/m/split" >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 3 "$rc" "a User libssh does not read: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/err")" "$T/split_config line 5: User $U2 for split, but libssh read $U3" "the message names the line and both users"
[[ -e $T/m/split ]] && fail "a User libssh does not read: the command ran"
ok "a Port/User libssh 0.10 would not apply (a later block after HostName) fails loudly"

# keys install takes the route too: a password-only user on an sshd inside
# the namespace gets the key through the bastion (ProxyJump) and through a
# ProxyCommand; the target's key is checked end to end; what the
# ProxyCommand carried holds neither the password nor the key (ciphertext);
# a dead bastion fails the host "via bastion" and nothing connects directly.
UP=${FLEET_USER_PREFIX}jpw
PW="jp-$RANDOM$RANDOM"
PWADDR=$FLEET_NET.204
cleanup_pwuser() {
	pkill -KILL -u "$UP" 2>/dev/null || true
	userdel -r "$UP" 2>/dev/null || true
}
cleanup_pwuser
at_exit cleanup_pwuser
useradd -m -s /bin/bash "$UP"
printf '%s:%s\n' "$UP" "$PW" | chpasswd
HP=$(getent passwd "$UP" | cut -d: -f6)
rm -rf "${HP:?}/.ssh"
cat >"$T/pw.conf" <<CFG
ListenAddress $PWADDR:22
$(grep '^HostKey' "$FLEET_DIR/hosts/$FLEET_NET.3/sshd_config")
PidFile $T/pw.pid
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AllowUsers $UP
AuthorizedKeysFile .ssh/authorized_keys
UseDNS no
Subsystem sftp /usr/lib/openssh/sftp-server
CFG
ip netns exec "$NS" /usr/sbin/sshd -f "$T/pw.conf" -E "$T/pw.log"
for _ in $(seq $((100 * SLOW))); do
	ip netns exec "$NS" ss -ltn | grep -q "$PWADDR:22" && break
	sleep 0.1
done
echo "$PWADDR $(key_of 3)" >>"$T/kh"
(umask 077; printf "%s\n" "$PW" >"$T/pwfile")
# First: ssh_config's first value wins, and the file's Host * sets User.
{ cat <<CFG
Host pwjump
    HostName $PWADDR
    User $UP
    ProxyJump bastion
Host pwcmd
    HostName $PWADDR
    User $UP
    ProxyCommand sh -c 'tee -a $T/cmd.up | ip netns exec $NS socat - TCP:%h:%p | tee -a $T/cmd.down'
Host pwdead
    HostName $PWADDR
    User $UP
    ProxyJump dead
CFG
cat "$T/ssh_config"; } >"$T/pw_config"
mki() { # mki ALIAS [KH]: keys install to ALIAS; sets rc
	set +e
	"$MUSTER" keys install -F "$T/pw_config" --known-hosts "${2:-$T/kh}" -k "$KEY" \
		--password-file "$T/pwfile" -w "$1" >"$T/out" 2>"$T/err"
	rc=$?
	set -e
}
PUB=$(cut -d' ' -f2 "$KEY.pub")
mki pwdead
assert_eq 3 "$rc" "keys install via a dead bastion: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/err")" "via bastion dead" "keys install via a dead bastion: the message"
[[ -e $HP/.ssh/authorized_keys ]] && fail "keys install via a dead bastion: a key landed"
grep -v "^$PWADDR " "$T/kh" >"$T/kh_pwbad"
echo "$PWADDR $(key_of 4)" >>"$T/kh_pwbad"
mki pwjump "$T/kh_pwbad"
assert_eq 3 "$rc" "keys install, a changed target key behind the bastion: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/err")" "hostkey" "keys install: the target's key is what failed"
[[ -e $HP/.ssh/authorized_keys ]] && fail "keys install, a changed target key: a key landed"
mki pwjump
assert_eq 0 "$rc" "keys install through ProxyJump: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/out")" "pwjump: installed" "keys install through ProxyJump"
grep -q "$PUB" "$HP/.ssh/authorized_keys" || fail "keys install through ProxyJump: the key is not on the inner host"
grep -q "Accepted password for $UP" "$T/pw.log" || fail "keys install through ProxyJump: the inner sshd saw no password login"
"$MUSTER" run --no-daemon -F "$T/pw_config" --known-hosts "$T/kh" -k "$KEY" -w pwjump -- true >"$T/out" 2>"$T/err" ||
	fail "run with the installed key through the bastion: $(cat "$T/out" "$T/err")"
ok "keys install through ProxyJump: the key lands on the inner host, its key checked end to end, a dead bastion fails it"
rm -rf "${HP:?}/.ssh"
rm -f "$T/cmd.up" "$T/cmd.down"
mki pwcmd
assert_eq 0 "$rc" "keys install through ProxyCommand: $(cat "$T/out" "$T/err")"
grep -q "$PUB" "$HP/.ssh/authorized_keys" || fail "keys install through ProxyCommand: the key is not on the inner host"
[[ -s $T/cmd.up && -s $T/cmd.down ]] || fail "keys install through ProxyCommand: nothing went through the command"
grep -q -a -F "$PW" "$T/cmd.up" "$T/cmd.down" && fail "keys install through ProxyCommand: the password crossed in clear"
grep -q -a -F "$PUB" "$T/cmd.up" "$T/cmd.down" && fail "keys install through ProxyCommand: the key crossed in clear"
ok "keys install through ProxyCommand: the key lands, the proxy carried only ciphertext"

# The daemon holds hosts behind a bastion (ssh_config's ProxyJump), and a
# run goes through it.
export MUSTER_DAEMON_SOCKET=$T/d/daemon.sock
"$MUSTER" daemon --known-hosts "$T/kh" -k "$KEY" -F "$T/ssh_config" -w one,two >"$T/start"
at_exit '"$MUSTER" daemon --stop >/dev/null 2>&1'
n=0
for _ in $(seq $((100 * SLOW))); do
	"$MUSTER" daemon --status --json >"$T/st"
	n=$(python3 -c 'import json,sys; print(sum(h["state"]=="ready" for h in json.load(sys.stdin)["hosts"]))' <"$T/st")
	((n == 2)) && break
	sleep 0.2
done
assert_eq 2 "$n" "hosts behind bastions held by the daemon"
rm -f "$T/m/one" "$T/m/two"
"$MUSTER" run -v --known-hosts "$T/kh" -k "$KEY" -F "$T/ssh_config" -w one,two -- 'touch '"$T"'/m/d$$' >"$T/out" 2>"$T/err" ||
	fail "run through the daemon: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/err")" "using the daemon" "the run used the daemon"
assert_eq 2 "$(find "$T/m" -name 'd*' | wc -l)" "ran on both hosts through the daemon"
ok "the daemon holds hosts behind bastions"

# --status shows the bastion connections (bastion, state, channels in use,
# the hosts behind it) and each host's route.
"$MUSTER" daemon --status --json >"$T/st"
jq_st() { python3 -c "import json,sys; d=json.load(open('$T/st')); $1"; }
# (A hop behind another hop has connections of its own: "bastion" for
# one, and "bastion" under "bastion2" for two.)
bastion_row() {
	jq_st 'b=[x for x in d["bastions"] if x["bastion"]=="bastion"]; print(" ".join(sorted(set(x["state"] for x in b))), sum(x["channels"] for x in b), ",".join(sorted(h for x in b for h in x["hosts"])))'
}
assert_eq "up 2 bastion2,one" "$(bastion_row)" "--status: the first bastion carries one and the second bastion"
assert_eq "up 1 two" "$(jq_st 'b=[x for x in d["bastions"] if x["bastion"]=="bastion2"][0]; print(b["state"], b["channels"], ",".join(b["hosts"]))')" \
	"--status: the second bastion"
assert_contains "$(jq_st 'print([h["route"] for h in d["hosts"] if h["host"]=="one"][0])')" \
	"ProxyJump bastion ($T/ssh_config:" "--status: the host's route"
"$MUSTER" daemon --status >"$T/st.txt"
assert_contains "$(cat "$T/st.txt")" "BASTION" "--status text: the bastions' table"
assert_contains "$(grep '^one ' "$T/st.txt" | tail -1)" "ProxyJump bastion" "--status text: the route"
ok "--status shows the bastion connections and each host's route"

# The bastion goes away (its sshd killed, its way in closed) and comes
# back: the daemon's hosts come back through it, never directly (nothing
# in the root namespace listens on the targets' addresses).
accepted() { grep -c "Accepted publickey for $U1" "$T/bastion.log" || true; }
before=$(accepted)
# Its per-connection children first (the sshd -i behind each), then the
# listener: no new connection gets in until it is started again.
children=$(pgrep -P "$SOCAT" || true)
kill "$SOCAT"
wait "$SOCAT" 2>/dev/null || true
for pid in $children; do kill -9 "$pid" 2>/dev/null || true; done
for _ in $(seq $((100 * SLOW))); do
	"$MUSTER" daemon --status --json >"$T/st"
	[[ $(jq_st 'print(sum(h["state"]=="ready" for h in d["hosts"]))') == 0 ]] && break
	sleep 0.2
done
assert_eq 0 "$(jq_st 'print(sum(h["state"]=="ready" for h in d["hosts"]))')" "the bastion's hosts left ready"
socat "TCP-LISTEN:22,bind=$BASTION,fork,reuseaddr" \
	EXEC:"ip netns exec $NS /usr/sbin/sshd -i -f $T/bastion.conf -E $T/bastion.log" &
SOCAT=$!
at_exit "kill $SOCAT 2>/dev/null"
n=0
for _ in $(seq $((300 * SLOW))); do
	"$MUSTER" daemon --status --json >"$T/st"
	n=$(jq_st 'print(sum(h["state"]=="ready" for h in d["hosts"]))')
	((n == 2)) && break
	sleep 0.2
done
assert_eq 2 "$n" "the hosts came back after the bastion did: $(cat "$T/st")"
# One for one, one under bastion2 for two (a hop's connections are per depth).
assert_eq 2 "$(($(accepted) - before))" "new connections to the bastion: one per depth, not one per retry"
assert_contains "$(jq_st 'print([h["route"] for h in d["hosts"] if h["host"]=="one"][0])')" \
	"ProxyJump bastion" "back through the bastion"
assert_eq "up 2 bastion2,one" "$(bastion_row)" "--status: the bastion is up again"
rm -f "$T/m/d"*
"$MUSTER" run --known-hosts "$T/kh" -k "$KEY" -F "$T/ssh_config" -w one,two -- 'touch '"$T"'/m/d$$' >"$T/out" 2>"$T/err" ||
	fail "run through the daemon after the bastion came back: $(cat "$T/out" "$T/err")"
assert_eq 2 "$(find "$T/m" -name 'd*' | wc -l)" "ran on both hosts after the bastion came back"
ok "the bastion killed and restarted: the daemon's hosts come back through it"

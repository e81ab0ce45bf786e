#!/usr/bin/env bash
# muster keys install: a host that only takes passwords gets the key, then
# `muster run` reaches it with the key alone; a second install reports
# present; a wrong password fails that host only; a dead host does not hold
# up the others. Identities from stdin (-k -) and MUSTER_IDENTITY_DATA.
#
# The fleet's sshd refuses passwords, so the test starts one more sshd on
# $FLEET_NET.200 with PasswordAuthentication and two users of its own
# (made with useradd, password set with chpasswd), removed at exit.
. "$(dirname "$0")/lib.sh"

if ((EUID != 0)); then
	echo "ok - skipped: needs root (useradd, sshd on port 22)"
	exit 0
fi
((FLEET_N < 200)) || fail "the password host uses $FLEET_NET.200, inside this fleet"

PW_ADDR=$FLEET_NET.200
UA=${FLEET_USER_PREFIX}pwa # no ~/.ssh at all
UB=${FLEET_USER_PREFIX}pwb # an authorized_keys without our key
PA="pa-$RANDOM$RANDOM"
PB="pb $RANDOM:$RANDOM" # a blank and a colon: passed as is
D=$T/pwhost

# --- the password host ----------------------------------------------------------
cleanup_pwhost() {
	local pid
	if [[ -r $D/sshd.pid ]] && read -r pid <"$D/sshd.pid"; then
		kill "$pid" 2>/dev/null || true
	fi
	pkill -KILL -u "$UA,$UB" 2>/dev/null || true
	userdel -r "$UA" 2>/dev/null || true
	userdel -r "$UB" 2>/dev/null || true
}
cleanup_pwhost # left over from an interrupted run
at_exit cleanup_pwhost

mkdir -p "$D"
ssh-keygen -q -t ed25519 -N '' -C muster-pwhost -f "$D/ssh_host_ed25519_key"
useradd -m -s /bin/bash "$UA"
useradd -m -s /bin/bash "$UB"
printf '%s:%s\n%s:%s\n' "$UA" "$PA" "$UB" "$PB" | chpasswd
HA=$(getent passwd "$UA" | cut -d: -f6)
HB=$(getent passwd "$UB" | cut -d: -f6)
rm -rf "${HA:?}/.ssh"
install -d -m 0700 -o "$UB" -g "$UB" "$HB/.ssh"
# An unrelated key, and no newline at the end: it must survive as it is.
ssh-keygen -q -t ed25519 -N '' -C other -f "$T/other"
printf '%s' "$(cat "$T/other.pub")" >"$HB/.ssh/authorized_keys"
chown "$UB:$UB" "$HB/.ssh/authorized_keys"
chmod 0600 "$HB/.ssh/authorized_keys"
cp "$HB/.ssh/authorized_keys" "$T/b_before"

cat >"$D/sshd_config" <<EOF
ListenAddress $PW_ADDR:22
HostKey $D/ssh_host_ed25519_key
PidFile $D/sshd.pid
UsePAM no
PasswordAuthentication yes
PermitEmptyPasswords no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $UA $UB
AuthorizedKeysFile .ssh/authorized_keys
UseDNS no
Subsystem sftp /usr/lib/openssh/sftp-server
StrictModes yes
LogLevel VERBOSE
EOF
[[ -d /run/sshd ]] || install -d -m 0755 /run/sshd
/usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log"
for ((i = 0; i < 50; i++)); do
	ss -Hltn "sport = :22" | grep "$PW_ADDR:22" >/dev/null && break
	sleep 0.1
done
ss -Hltn "sport = :22" | grep "$PW_ADDR:22" >/dev/null || fail "password sshd did not start: $(tail -5 "$D/sshd.log")"

# known_hosts: the fleet's, without the password host (recorded by --accept-new).
cp "$KH" "$T/kh"
opts=(-k "$KEY" -F /dev/null --known-hosts "$T/kh")
read -r ktype kb64 _ <"$KEY.pub"

# --- before: the key alone does not get in ---------------------------------------------
set +e
cp "$KH" "$T/kh0"
"$MUSTER" run -k "$KEY" -F /dev/null --known-hosts "$T/kh0" --accept-new -w "$UA@$PW_ADDR" -- true >"$T/out" 2>"$T/err"; rc=$?
set -e
assert_eq 3 "$rc" "the password host refuses the key before install"
assert_contains "$(cat "$T/err")" "auth" "refused as an authentication failure"
ok "password-only host refuses the key"

# --- install, next to a host that has the key and one that is stopped ------------
fleet_stop 3
t0=$SECONDS
set +e
MUSTER_PASSWORD=$PA "$MUSTER" keys install "${opts[@]}" --accept-new --connect-timeout $((3 * SLOW)) \
	-w "$UA@$PW_ADDR" -w "$(fleet_user 1)@$(fleet_addr 1)" -w "$(fleet_user 3)@$(fleet_addr 3)" \
	>"$T/out" 2>"$T/err" </dev/null
rc=$?
set -e
took=$((SECONDS - t0))
fleet_cont 3
assert_eq 3 "$rc" "exit status with one host unreachable"
assert_contains "$(cat "$T/out")" "$PW_ADDR: installed" "password host: installed"
assert_contains "$(cat "$T/out")" "$(fleet_addr 1): present" "keyed host: present"
assert_contains "$(cat "$T/err")" "$(fleet_addr 3): unreachable" "stopped host: unreachable"
assert_contains "$(cat "$T/err")" "1 installed, 1 present, 0 failed, 1 unreachable" "summary"
# A hang guard, not a timing test: the stopped host ends at its connect
# timeout; only a wait that ignores it comes near this bound.
((took <= 30 * SLOW)) || fail "a stopped host held the install up for $took s"
ok "install: installed, present, and a stopped host times out alone (${took}s)"

[[ $(stat -c '%a %U' "$HA/.ssh") == "700 $UA" ]] || fail "~/.ssh: $(stat -c '%a %U' "$HA/.ssh")"
[[ $(stat -c '%a %U' "$HA/.ssh/authorized_keys") == "600 $UA" ]] ||
	fail "authorized_keys: $(stat -c '%a %U' "$HA/.ssh/authorized_keys")"
assert_eq 1 "$(grep -c -F "$ktype $kb64" "$HA/.ssh/authorized_keys")" "the key is there once"
ls -A "$HA/.ssh" | grep -q muster && fail "temporary file left: $(ls -A "$HA/.ssh")"
grep -q "^$PW_ADDR ssh-ed25519 " "$T/kh" || fail "--accept-new did not record the host key"
ok "~/.ssh 0700 and authorized_keys 0600 created, key once, host key recorded"

"$MUSTER" run "${opts[@]}" -w "$UA@$PW_ADDR" -- 'echo $USER' >"$T/out" 2>"$T/err" ||
	fail "run with the installed key: $(cat "$T/err")"
assert_eq "$PW_ADDR: $UA" "$(cat "$T/out")" "runs with the key alone"
ok "muster run reaches the host with the key alone"

# --- again: present, file untouched ------------------------------------------------------------
cp "$HA/.ssh/authorized_keys" "$T/a_before"
"$MUSTER" keys install "${opts[@]}" --json -w "$UA@$PW_ADDR" >"$T/out" 2>"$T/err" </dev/null ||
	fail "second install: $(cat "$T/err")"
assert_contains "$(cat "$T/out")" '"status":"present"' "second install reports present"
assert_contains "$(cat "$T/out")" "\"host\":\"$PW_ADDR\"" "json names the host"
assert_file_eq "$T/a_before" "$HA/.ssh/authorized_keys" "second install leaves the file alone"
ok "second install: present, key still once"

# --- wrong password: that host fails, the others do not ----------------------------------------
set +e
MUSTER_PASSWORD=wrong-$RANDOM "$MUSTER" keys install "${opts[@]}" \
	-w "$UB@$PW_ADDR" -w "$(fleet_user 2)@$(fleet_addr 2)" >"$T/out" 2>"$T/err" </dev/null
rc=$?
set -e
assert_eq 3 "$rc" "exit status with a wrong password"
assert_contains "$(cat "$T/err")" "$PW_ADDR: auth: password refused for $UB@$PW_ADDR" "auth error for that host"
assert_contains "$(cat "$T/out")" "$(fleet_addr 2): present" "the other host is fine"
assert_file_eq "$T/b_before" "$HB/.ssh/authorized_keys" "nothing written after a wrong password"
ok "wrong password: auth error for that host only"

# --- the right one from a file: appended after a last line without newline -----------------------
printf '%s\n' "$PB" >"$T/pwfile"
chmod 0644 "$T/pwfile"
set +e
"$MUSTER" keys install "${opts[@]}" --password-file "$T/pwfile" -w "$UB@$PW_ADDR" >"$T/out" 2>"$T/err" </dev/null
rc=$?
set -e
assert_eq 2 "$rc" "a password file others can read is refused"
chmod 0600 "$T/pwfile"
"$MUSTER" keys install "${opts[@]}" --password-file "$T/pwfile" -w "$UB@$PW_ADDR" >"$T/out" 2>"$T/err" </dev/null ||
	fail "install with --password-file: $(cat "$T/err")"
assert_contains "$(cat "$T/out")" "$PW_ADDR: installed" "installed with the password file"
{ cat "$T/b_before"; echo; echo "$ktype $kb64 $(cut -d' ' -f3- "$KEY.pub")"; } >"$T/b_want"
assert_file_eq "$T/b_want" "$HB/.ssh/authorized_keys" "old content kept, key appended on its own line"
grep -q "$PB" "$T/err" "$T/out" && fail "the password shows in the output"
ok "--password-file: appended without touching the existing line"

# --- identities that never touch the disk ---------------------------------------------------------
h4="$(fleet_user 4)@$(fleet_addr 4)"
"$MUSTER" run -k - -F /dev/null --known-hosts "$KH" -w "$h4" -- 'echo $USER' <"$KEY" >"$T/out" 2>"$T/err" ||
	fail "-k - failed: $(cat "$T/err")"
assert_eq "$(fleet_addr 4): $(fleet_user 4)" "$(cat "$T/out")" "key from stdin"
(cd "$T" && HOME=$T/nohome MUSTER_IDENTITY_DATA=$(cat "$KEY") "$MUSTER" run -F /dev/null --known-hosts "$KH" \
	-w "$h4" -- 'echo $USER') >"$T/out" 2>"$T/err" ||
	fail "MUSTER_IDENTITY_DATA failed: $(cat "$T/err")"
assert_eq "$(fleet_addr 4): $(fleet_user 4)" "$(cat "$T/out")" "key from the environment"
set +e
echo "not a key" | "$MUSTER" run -k - -F /dev/null --known-hosts "$KH" -w "$h4" -- true >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 2 "$rc" "garbage on stdin is a usage error"
assert_contains "$(cat "$T/err")" "cannot load the private key from stdin" "says where the key came from"
ok "identities from stdin and MUSTER_IDENTITY_DATA"

# --- MaxSessions 1: one channel at a time (SFTP, then mv) ----------------------------------------
kill "$(cat "$D/sshd.pid")"
for ((i = 0; i < 50; i++)); do
	ss -Hltn "sport = :22" | grep "$PW_ADDR:22" >/dev/null || break
	sleep 0.1
done
echo "MaxSessions 1" >>"$D/sshd_config"
/usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log"
for ((i = 0; i < 50; i++)); do
	ss -Hltn "sport = :22" | grep "$PW_ADDR:22" >/dev/null && break
	sleep 0.1
done
ss -Hltn "sport = :22" | grep "$PW_ADDR:22" >/dev/null || fail "MaxSessions 1 sshd did not start: $(tail -5 "$D/sshd.log")"
cp "$T/b_before" "$HB/.ssh/authorized_keys"
"$MUSTER" keys install "${opts[@]}" --password-file "$T/pwfile" -w "$UB@$PW_ADDR" >"$T/out" 2>"$T/err" </dev/null ||
	fail "install under MaxSessions 1: $(cat "$T/out" "$T/err") $(tail -n 8 "$D/sshd.log")"
assert_contains "$(cat "$T/out")" "$PW_ADDR: installed" "installed under MaxSessions 1"
assert_file_eq "$T/b_want" "$HB/.ssh/authorized_keys" "MaxSessions 1: old content kept, key appended"
ls -A "$HB/.ssh" | grep -q muster && fail "temporary file left: $(ls -A "$HB/.ssh")"
ok "keys install on a host with MaxSessions 1 replaces an existing authorized_keys"

# --- no SFTP subsystem (and still MaxSessions 1): the same steps over exec ----------------------
restart_pwhost() {
	kill "$(cat "$D/sshd.pid")"
	for ((i = 0; i < 50; i++)); do
		ss -Hltn "sport = :22" | grep "$PW_ADDR:22" >/dev/null || break
		sleep 0.1
	done
	/usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log"
	for ((i = 0; i < 50; i++)); do
		ss -Hltn "sport = :22" | grep "$PW_ADDR:22" >/dev/null && break
		sleep 0.1
	done
	ss -Hltn "sport = :22" | grep "$PW_ADDR:22" >/dev/null || fail "sshd did not restart: $(tail -5 "$D/sshd.log")"
}
sed -i '/^Subsystem /d' "$D/sshd_config"
restart_pwhost
rm -rf "${HA:?}/.ssh"
cp "$T/b_before" "$HB/.ssh/authorized_keys"
chmod 0640 "$HB/.ssh/authorized_keys" # the owner's mode is kept
MUSTER_PASSWORD=$PA "$MUSTER" keys install "${opts[@]}" -w "$UA@$PW_ADDR" >"$T/out" 2>"$T/err" </dev/null ||
	fail "install without SFTP (new file): $(cat "$T/out" "$T/err") $(tail -n 8 "$D/sshd.log")"
assert_contains "$(cat "$T/out")" "$PW_ADDR: installed" "installed without SFTP"
[[ $(stat -c '%a %U' "$HA/.ssh") == "700 $UA" ]] || fail "no SFTP: ~/.ssh: $(stat -c '%a %U' "$HA/.ssh")"
[[ $(stat -c '%a %U' "$HA/.ssh/authorized_keys") == "600 $UA" ]] ||
	fail "no SFTP: authorized_keys: $(stat -c '%a %U' "$HA/.ssh/authorized_keys")"
assert_eq "$ktype $kb64 $(cut -d' ' -f3- "$KEY.pub")" "$(cat "$HA/.ssh/authorized_keys")" "no SFTP: the key alone"
"$MUSTER" keys install "${opts[@]}" --password-file "$T/pwfile" -w "$UB@$PW_ADDR" >"$T/out" 2>"$T/err" </dev/null ||
	fail "install without SFTP (existing file): $(cat "$T/out" "$T/err") $(tail -n 8 "$D/sshd.log")"
assert_contains "$(cat "$T/out")" "$PW_ADDR: installed" "installed over an existing file without SFTP"
assert_file_eq "$T/b_want" "$HB/.ssh/authorized_keys" "no SFTP: old content kept, key appended"
assert_eq "640" "$(stat -c '%a' "$HB/.ssh/authorized_keys")" "no SFTP: the owner's mode kept"
ls -A "$HA/.ssh" "$HB/.ssh" | grep -q muster && fail "temporary file left: $(ls -A "$HA/.ssh" "$HB/.ssh")"
cp "$HB/.ssh/authorized_keys" "$T/b_after"
"$MUSTER" keys install "${opts[@]}" --password-file "$T/pwfile" -w "$UB@$PW_ADDR" >"$T/out" 2>"$T/err" </dev/null ||
	fail "second install without SFTP: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/out")" "$PW_ADDR: present" "present without SFTP"
assert_file_eq "$T/b_after" "$HB/.ssh/authorized_keys" "no SFTP: present leaves the file alone"
# (the second install said present: the key alone logged in. A cold start
# of the agent under MaxSessions 1 is issue 18's bootstrap item; UA's is cached.)
"$MUSTER" run "${opts[@]}" -w "$UA@$PW_ADDR" -- 'echo $USER' >"$T/out" 2>"$T/err" ||
	fail "run after an install without SFTP: $(cat "$T/err")"
assert_eq "$PW_ADDR: $UA" "$(cat "$T/out")" "runs with the key installed over exec"
ok "keys install on a host without SFTP (MaxSessions 1): exec fallback, compare, temp, rename"

# A symbolic link is refused over exec as over SFTP, and left as it is.
ln -sf /dev/null "$HA/.ssh/authorized_keys"
set +e
MUSTER_PASSWORD=$PA "$MUSTER" keys install "${opts[@]}" -w "$UA@$PW_ADDR" >"$T/out" 2>"$T/err" </dev/null
rc=$?
set -e
assert_eq 1 "$rc" "a symlinked authorized_keys fails the host"
assert_contains "$(cat "$T/err")" "is a symbolic link" "says why"
[[ -L $HA/.ssh/authorized_keys ]] || fail "the link was replaced"
ok "no SFTP: a symbolic link is refused, not replaced"

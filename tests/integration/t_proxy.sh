#!/usr/bin/env bash
# Never a silent route: an ssh_config that asks for a ProxyCommand, a
# ProxyJump or another route or identity muster cannot honour makes the
# host fail, naming the directive and its file:line, and nothing runs on
# it by the direct route (which exists here: the fleet is reachable).
. "$(dirname "$0")/lib.sh"

H=$(fleet_addr 3)
U=$(fleet_user 3)
# A directory the host's user can write to: the marker that says whether
# the command ran.
chmod 755 "$T"
mkdir -m 1777 "$T/m"

# run_alias ALIAS: run `touch MARKER` on ALIAS under $T/ssh_config; sets rc.
run_alias() {
	rm -f "$T/m/$1"
	set +e
	"$MUSTER" run -F "$T/ssh_config" --known-hosts "$KH" -k "$KEY" -w "$1" \
		-- "touch $T/m/$1" >"$T/out" 2>"$T/err"
	rc=$?
	set -e
}

# host_block ALIAS EXTRA...: a Host block for the fleet host.
host_block() {
	local alias=$1
	shift
	printf 'Host %s\n    HostName %s\n    User %s\n' "$alias" "$H" "$U"
	printf '    %s\n' "$@"
}

# The control: the direct route works and leaves the marker, so the
# refusals below are the config's doing.
{
	host_block direct
	host_block pcnone 'ProxyCommand none'
	host_block pjnone 'ProxyJump none' 'ProxyCommand false'
} >"$T/ssh_config"
run_alias direct
assert_eq 0 "$rc" "direct route: $(cat "$T/err")"
[[ -e $T/m/direct ]] || fail "the marker method does not work (test set-up)"
run_alias pcnone
assert_eq 0 "$rc" "ProxyCommand none is direct: $(cat "$T/err")"
[[ -e $T/m/pcnone ]] || fail "ProxyCommand none: the command did not run"
# The first of ProxyJump and ProxyCommand wins, as in OpenSSH.
run_alias pjnone
assert_eq 0 "$rc" "ProxyJump none before a ProxyCommand is direct: $(cat "$T/err")"
ok "direct, ProxyCommand none and ProxyJump none connect directly"

# refused ALIAS WANT: the host fails with WANT in its message, exit 3,
# and its marker is absent.
refused() {
	run_alias "$1"
	assert_eq 3 "$rc" "$1 must fail: $(cat "$T/out" "$T/err")"
	assert_contains "$(cat "$T/out" "$T/err")" "$2" "$1: the message"
	[[ -e $T/m/$1 ]] && fail "$1: the command ran by a direct route"
	return 0
}

{
	host_block pcfalse 'ProxyCommand false'
	printf 'Host deadbastion\n    HostName 127.0.0.1\n    Port 1\n'
	host_block pjdead 'ProxyJump deadbastion'
	host_block bind 'BindAddress 127.0.0.1'
	host_block alias 'HostKeyAlias otherhost'
	host_block only 'ProxyUseFdpass yes'
	printf 'Host included\n    Include %s\n' "$T/inc.conf"
	host_block included
	# A block libssh reads but muster cannot evaluate: libssh's own
	# reading of it must still stop the direct route.
	printf 'Match exec true\n    ProxyCommand false\n'
	host_block matched
} >"$T/ssh_config"
printf '# included\nProxyJump deadbastion\n' >"$T/inc.conf"

refused pcfalse "$T/ssh_config:"
assert_contains "$(cat "$T/out" "$T/err")" "ProxyCommand false" "pcfalse names the directive"
assert_contains "$(cat "$T/out" "$T/err")" "exited with status 1" "pcfalse says how the command ended"
refused pjdead "$T/ssh_config:"
assert_contains "$(cat "$T/out" "$T/err")" "ProxyJump deadbastion" "pjdead names the directive"
refused bind "$T/ssh_config:"
assert_contains "$(cat "$T/out" "$T/err")" "BindAddress" "bind names the directive"
refused alias "HostKeyAlias"
refused only "ProxyUseFdpass"
refused included "$T/inc.conf:2"
assert_contains "$(cat "$T/out" "$T/err")" "ProxyJump" "the included file's directive"
refused matched "proxy"
ok "ProxyCommand false, ProxyJump, BindAddress, HostKeyAlias, ProxyUseFdpass, Include and Match: the host fails, nothing runs directly"

# The line number is the directive's own.
line=$(grep -n 'ProxyCommand false' "$T/ssh_config" | head -n1 | cut -d: -f1)
run_alias pcfalse
assert_contains "$(cat "$T/out" "$T/err")" "$T/ssh_config:$line" "file:line of the directive"
ok "file:line"

# --list-hosts shows the route each host would take, before anything runs.
"$MUSTER" run -F "$T/ssh_config" --list-hosts -w pcfalse,pjdead,bind >"$T/out" 2>"$T/err" ||
	fail "--list-hosts: $(cat "$T/err")"
assert_contains "$(grep '^pcfalse' "$T/out")" "ProxyCommand false ($T/ssh_config:$line)" "list-hosts: ProxyCommand"
assert_contains "$(grep '^pjdead' "$T/out")" "ProxyJump deadbastion ($T/ssh_config:" "list-hosts: ProxyJump"
assert_contains "$(grep '^bind' "$T/out")" "fails: " "list-hosts: a refused directive"
"$MUSTER" run -F "$T/ssh_config" -J ops@jump1:2222 --list-hosts -w pcfalse >"$T/out" 2>"$T/err" ||
	fail "--list-hosts -J: $(cat "$T/err")"
assert_contains "$(cat "$T/out")" "ProxyJump ops@jump1:2222 (-J)" "list-hosts: -J wins"
ok "--list-hosts shows each host's route"

# keys install reads the same ssh_config.
set +e
"$MUSTER" keys install -F "$T/ssh_config" --known-hosts "$KH" -k "$KEY" -w pjdead \
	>"$T/out" 2>"$T/err" </dev/null
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "keys install through a dead ProxyJump succeeded"
assert_contains "$(cat "$T/out" "$T/err")" "ProxyJump" "keys install names the ProxyJump"
ok "keys install refuses a route it cannot take"

# ProxyCommand: the host is reachable only through the command (nothing
# listens on port 2; the command is the host's sshd in inetd mode), and
# its key is checked under the name and port connected to.
cp "$KH" "$T/kh"
sed -n "s/^$H /[$H]:2 /p" "$KH" >>"$T/kh"
{
	printf 'Host pcsshd
    HostName %s
    Port 2
    User %s
' "$H" "$U"
	printf '    ProxyCommand /usr/sbin/sshd -i -f %s
' "$FLEET_DIR/hosts/$H/sshd_config"
	host_block pcexp "ProxyCommand sh -c 'echo \"%n %r %h %p %%\" >$T/m/exp; exec socat - TCP:%h:%p'"
	# A command that outlives its connection unless it is killed.
	host_block pckill "ProxyCommand sh -c 'echo \$\$ >$T/m/pid; trap \"\" HUP TERM PIPE; socat - TCP:%h:%p; sleep 600'"
	host_block pcbad 'ProxyCommand socat - TCP:%h:%q'
	printf 'Host pcnokey
    HostName %s
    Port 2
    User %s
' "$H" "$U"
	printf '    ProxyCommand /usr/sbin/sshd -i -f %s
' "$FLEET_DIR/hosts/$H/sshd_config"
} >"$T/ssh_config"
KH_SAVED=$KH
KH=$T/kh
run_alias pcsshd
assert_eq 0 "$rc" "through a ProxyCommand: $(cat "$T/err")"
[[ -e $T/m/pcsshd ]] || fail "ProxyCommand: the command did not run"
echo payload >"$T/payload"
"$MUSTER" push -F "$T/ssh_config" --known-hosts "$KH" -k "$KEY" -w pcsshd "$T/payload" "$T/m/pushed" >/dev/null 2>"$T/err" ||
	fail "push through a ProxyCommand: $(cat "$T/err")"
assert_file_eq "$T/payload" "$T/m/pushed" "pushed through a ProxyCommand"
ok "ProxyCommand: a host reachable only through it runs a command and takes a push"

run_alias pcexp
assert_eq 0 "$rc" "ProxyCommand with escapes: $(cat "$T/err")"
assert_eq "pcexp $U $H 22 %" "$(cat "$T/m/exp")" "%n %r %h %p %% expanded"
ok "ProxyCommand escapes"

run_alias pckill
assert_eq 0 "$rc" "ProxyCommand that outlives its connection: $(cat "$T/err")"
pid=$(cat "$T/m/pid")
# Killed, but a grandchild's death is not waited for: wait for it (it would
# otherwise live for 600 s).
alive() { [[ -r /proc/$1/stat ]] && [[ $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) != Z ]]; }
for _ in $(seq $((100 * SLOW))); do alive "$pid" || break; sleep 0.1; done
alive "$pid" && fail "the ProxyCommand (pid $pid) outlived its host"
ok "the ProxyCommand ends with its host"

refused pcbad "unknown escape %q"
KH=$T/empty_kh
: >"$KH"
refused pcnokey "unknown"
KH=$KH_SAVED
ok "a bad escape and an unknown host key behind a ProxyCommand fail the host"


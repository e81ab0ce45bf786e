#!/usr/bin/env bash
# Odd hosts (issue 18 section 4), each against real sshd: watch's exit status
# when a host never came up, a nologin login shell, a restricted shell and
# ForceCommand internal-sftp ("refused", with what the host said), an sshd
# Banner, the login shells zsh,
# fish, tcsh, mksh, dash and busybox ash, and a server allowing only the
# sntrup761 key exchange that libssh 0.10 lacks, and a busybox-only userland
# without sha256sum (the agent uploaded once, then trusted by its size).
. "$(dirname "$0")/lib.sh"

n=13
u=$(fleet_user $n)
a=$(fleet_addr $n)
home=$(fleet_home $n)
shell0=$(getent passwd "$u" | cut -d: -f7)
at_exit "usermod -s '$shell0' '$u'"
cd "$T"

run() { # run ARGS...: muster run into $T/out, $T/err; status in $st
	st=0
	timeout -s KILL $((60 * SLOW)) "$MUSTER" run "$@" >"$T/out" 2>"$T/err" </dev/null || st=$?
	((st != 137)) || fail "muster never ended: $(tail -n 3 "$T/err")"
}

# --- watch: a host that never came up is exit 3, as in run ---------------
# 8 s windows: the live host must come up within the window, also under
# the sanitizers next to another shard of tests.
dead=$FLEET_NET.241 # nothing listens there
st=0
timeout -s KILL $((60 * SLOW)) "$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$a,$dead" --json --interval 0.5 \
	--duration 8 >"$T/w" 2>"$T/err" || st=$?
assert_eq 3 "$st" "watch with a dead host: exit status ($(tail -n 2 "$T/err"))"
assert_contains "$(cat "$T/err")" "1 of 2 hosts never came up" "says how many"
grep -q "\"host\":\"$a\"" "$T/w" || fail "the live host gave no samples: $(head -c 300 "$T/w")"
st=0
timeout -s KILL $((60 * SLOW)) "$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$a" --json --interval 0.5 \
	--duration 8 >"$T/w" 2>"$T/err" || st=$?
assert_eq 0 "$st" "watch of a live host: exit status ($(tail -n 2 "$T/err"))"
ok "watch exits 3 when a host never came up, 0 when all did"

# --- /usr/sbin/nologin as login shell ------------------------------------
usermod -s /usr/sbin/nologin "$u"
run "${MUSTER_OPTS[@]}" -w "$a" -- true
assert_eq 3 "$st" "nologin: exit status"
assert_contains "$(cat "$T/out" "$T/err")" "$a: refused: agent start command ended without starting the agent" "status refused"
assert_contains "$(cat "$T/out" "$T/err")" "This account is currently not available." "what the shell said"
ok "a nologin login shell: status refused, with the shell's own words"
# --- a restricted shell (rbash): refused, with its words -------------------
usermod -s /bin/rbash "$u"
run "${MUSTER_OPTS[@]}" -w "$a" -- true
assert_eq 3 "$st" "rbash: exit status"
assert_contains "$(cat "$T/out" "$T/err")" "$a: refused: agent start command ended without starting the agent" "rbash: status refused"
assert_contains "$(cat "$T/out" "$T/err")" "restricted" "rbash: what the shell said"
ok "a restricted login shell (rbash): status refused, with the shell's own words"
usermod -s "$shell0" "$u"

# --- ForceCommand internal-sftp, and only sntrup761 key exchange ---------
addr=$FLEET_NET.233 # outside the fleet
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey"
start_sshd() { # start_sshd EXTRA-CONFIG-LINE
	[[ -f $T/sshd.pid ]] && kill "$(cat "$T/sshd.pid")" 2>/dev/null
	for _ in $(seq $((600 * SLOW))); do ss -ltn | grep "$addr:22 " >/dev/null || break; sleep 0.1; done
	cat >"$T/sshd_config" <<CFG
ListenAddress $addr:22
HostKey $T/hostkey
PidFile $T/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers $u
AuthorizedKeysFile .ssh/authorized_keys
UseDNS no
Subsystem sftp internal-sftp
$1
CFG
	/usr/sbin/sshd -f "$T/sshd_config" -E "$T/sshd.log" || fail "sshd did not start: $(tail -n 3 "$T/sshd.log")"
	for _ in $(seq $((600 * SLOW))); do ss -ltn | grep "$addr:22 " >/dev/null && return; sleep 0.1; done
	fail "sshd not listening on $addr"
}
at_exit 'kill "$(cat "$T/sshd.pid")" 2>/dev/null || true'
echo "$addr $(cut -d' ' -f1-2 "$T/hostkey.pub")" >"$T/kh"
own=(-k "$KEY" -F /dev/null --known-hosts "$T/kh")

start_sshd "ForceCommand internal-sftp"
run "${own[@]}" --connect-timeout 5 -w "$u@$addr" -- true
assert_eq 3 "$st" "ForceCommand internal-sftp: exit status"
assert_contains "$(cat "$T/out" "$T/err")" "$addr: refused: " "status refused"
echo "# $(grep -h "^$addr: " "$T/out" "$T/err")"
ok "ForceCommand internal-sftp: status refused, not unreachable"

# --- a Banner before authentication: shown by ssh, no matter to muster ----
printf 'Authorized use only.\nAll activity is logged.\n' >"$T/banner"
chmod 644 "$T/banner"
start_sshd "Banner $T/banner"
run "${own[@]}" -w "$u@$addr" -- echo past the banner
assert_eq 0 "$st" "Banner: exit status ($(cat "$T/out" "$T/err"))"
assert_eq "$addr: past the banner" "$(cat "$T/out")" "Banner: output"
ok "an sshd Banner: the run works"

start_sshd "KexAlgorithms sntrup761x25519-sha512@openssh.com"
run "${own[@]}" -w "$u@$addr" -- true
assert_eq 3 "$st" "sntrup761 only: exit status"
assert_contains "$(cat "$T/out" "$T/err")" "$addr: unreachable: ssh: " "fails in the handshake"
assert_contains "$(cat "$T/out" "$T/err")" "no match for method kex algos" "libssh's own words"
ok "a server allowing only sntrup761x25519: libssh's 'no match for method kex algos'"

# --- a busybox-only userland without sha256sum -----------------------------
# Every tool on the PATH is busybox, sha256sum left out: the agent is checked
# by its size then, uploaded once, and trusted on later runs (its Hello
# carries the build id), through the start link and through the probe.
# Outside /tmp (a login shell must be a path the sshd's users can reach
# whatever their TMPDIR); a fresh machine may have no /usr/local/libexec.
mkdir -p /usr/local/libexec
bb=$(mktemp -d /usr/local/libexec/muster-test-bb.XXXXXX)
chmod 755 "$bb"
at_exit "rm -rf '$bb'"
for app in $(busybox --list); do
	[[ $app == sha256sum ]] || ln -s "$(command -v busybox)" "$bb/$app"
done
start_sshd "SetEnv PATH=$bb"
bbrun() { # bbrun WHAT ARGS...: a -v run on the busybox host, must succeed
	local what=$1
	shift
	run "${own[@]}" -v -w "$u@$addr" -- "$@"
	assert_eq 0 "$st" "busybox, $what: exit status ($(cat "$T/out" "$T/err"))"
}
rm -rf "$home/.cache/muster"
bbrun cold 'command -v sha256sum || echo "no sha256sum"; readlink -f "$(command -v ls)"'
assert_eq "$addr: no sha256sum
$addr: $(readlink -f "$(command -v busybox)")" "$(cat "$T/out")" "busybox, cold: the host has busybox and no sha256sum"
assert_contains "$(cat "$T/err")" "agent uploaded" "busybox, cold: the agent was uploaded"
f=$(ls "$home"/.cache/muster/muster-agent-[0-9a-f]*)
ino=$(stat -c %i "$f")
bbrun warm echo warm
assert_eq "$addr: warm" "$(cat "$T/out")" "busybox, warm: output"
assert_contains "$(cat "$T/err")" "agent cached" "busybox, warm: nothing uploaded"
rm -f "$home"/.cache/muster/muster-agent-set-*
bbrun probe echo probed
assert_eq "$addr: probed" "$(cat "$T/out")" "busybox, probe: output"
assert_contains "$(cat "$T/err")" "agent cached" "busybox, probe: the agent found by its size, not uploaded again"
assert_eq "$ino" "$(stat -c %i "$f")" "busybox: the agent uploaded on the first run is the one that runs"
ok "busybox userland without sha256sum: uploaded once, then found through the link and the probe"
# A damaged agent (the wrong size) is not run: removed and uploaded again.
truncate -s 4096 "$f"
rm -f "$home"/.cache/muster/muster-agent-set-*
bbrun damaged echo repaired
assert_eq "$addr: repaired" "$(cat "$T/out")" "busybox, damaged: output"
assert_contains "$(cat "$T/err")" "agent uploaded" "busybox, damaged: uploaded again"
assert_eq "$(stat -c %s "$BUILD_DIR/bin/muster-agent.x86_64" 2>/dev/null || stat -c %s "$BUILD_DIR/bin/muster-agent")" \
	"$(stat -c %s "$f")" "busybox, damaged: the whole agent is back"
ok "busybox userland without sha256sum: an agent of the wrong size is replaced"

# --- login shells ---------------------------------------------------------
# busybox picks the applet by its name: a link called ash.
ashdir=$(mktemp -d /usr/local/libexec/muster-test-ash.XXXXXX)
chmod 755 "$ashdir"
ash=$ashdir/ash
ln -s "$(command -v busybox)" "$ash"
at_exit "rm -rf '$ashdir'"
for sh in zsh fish tcsh mksh dash ash; do
	if [[ $sh == ash ]]; then path=$ash; else path=$(command -v "$sh") || fail "$sh is not installed (deploy/install-deps)"; fi
	usermod -s "$path" "$u"
	rm -rf "$home/.cache/muster"
	run "${MUSTER_OPTS[@]}" -w "$a" -- echo "hello from $sh"
	assert_eq 0 "$st" "$sh, cold: exit status ($(cat "$T/out" "$T/err"))"
	assert_eq "$a: hello from $sh" "$(cat "$T/out")" "$sh, cold: output"
	run "${MUSTER_OPTS[@]}" -w "$a" -- echo "again from $sh"
	assert_eq 0 "$st" "$sh, warm: exit status ($(cat "$T/out" "$T/err"))"
	assert_eq "$a: again from $sh" "$(cat "$T/out")" "$sh, warm: output"
	ok "login shell $sh: cold and warm starts"
done
usermod -s "$shell0" "$u"

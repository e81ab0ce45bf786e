#!/usr/bin/env bash
# First contact with a user whose login shell talks or hangs: ~/.bashrc
# printing on stdout and stderr (or running stty without a terminal), or
# never getting to the upload at all. The run always ends, the other hosts
# and the summary are not held up, and SIGTERM ends a hung bootstrap.
#
# The fleet's users log in with bash (deploy/local-fleet), and Debian's bash
# reads ~/.bashrc for commands run by sshd, subsystems included: the noise
# lands in the start command, the SFTP channel and the exec upload alike.
. "$(dirname "$0")/lib.sh"

n=7
u=$(fleet_user $n)
a=$(fleet_addr $n)
home=$(fleet_home $n)
good="$(fleet_addr 8),$(fleet_addr 9)"
[[ $(getent passwd "$u" | cut -d: -f7) == */bash ]] ||
	fail "$u does not log in with bash: the test's ~/.bashrc would not be read"

rc=$home/.bashrc
pids=$home/.muster-test-hang.pids
cp -p "$rc" "$T/bashrc.orig"
# Shells the test hung on purpose outlive the session (sshd leaves them):
# end them by the pids they wrote.
at_exit "cp -p '$T/bashrc.orig' '$rc'; [[ -s '$pids' ]] && kill \$(cat '$pids') 2>/dev/null; rm -f '$pids'"

# ~/.bashrc: $1, then the user's own.
set_bashrc() {
	{ printf '%s\n' "$1"; cat "$T/bashrc.orig"; } >"$rc"
}
cold() {
	rm -rf "$home/.cache/muster"
}
noise='yes "noise on stdout from .bashrc" | head -c 102400; yes "noise on stderr from .bashrc" | head -c 102400 >&2'
# Only for SFTP and the exec upload, never for the start command.
hang="case \$BASH_EXECUTION_STRING in *sftp-server*|*'dd of='*) echo \$\$ >>'$pids'; exec sleep 120;; esac"

# --- 100 KB of noise on each stream: more than a channel window ----------
set_bashrc "$noise"
cold
st=0
timeout -s KILL $((90 * SLOW)) "$MUSTER" run "${MUSTER_OPTS[@]}" -v -w "$a,$good" -- echo hello \
	>"$T/out" 2>"$T/err" || st=$?
((st != 137)) || fail "the run with a noisy login never ended: $(tail -n 5 "$T/err")"
assert_eq 0 "$st" "noisy login: exit status (stderr: $(tail -n 5 "$T/err"))"
assert_eq 3 "$(grep -c ': hello$' "$T/out")" "all three hosts ran the command"
assert_contains "$(cat "$T/err")" "$a: connected" "noisy host timings"
assert_contains "$(grep "^muster: $a:" "$T/err")" "agent uploaded via exec" "SFTP skipped for a login shell that prints on stdout"
assert_contains "$(cat "$T/err")" "3 hosts: 3 ok" "summary"
ok "a login shell that prints 100 KB on stdout and stderr: the agent is uploaded and starts"

# --- one blank line: over SFTP, a packet length of 167 MB to wait for -------
set_bashrc "echo"
cold
st=0
timeout -s KILL $((60 * SLOW)) "$MUSTER" run "${MUSTER_OPTS[@]}" -v -w "$a" -- echo hello \
	>"$T/out" 2>"$T/err" || st=$?
((st != 137)) || fail "a blank line from .bashrc: the run never ended: $(tail -n 5 "$T/err")"
assert_eq 0 "$st" "a blank line from .bashrc: exit status (stderr: $(tail -n 5 "$T/err"))"
assert_eq "$a: hello" "$(cat "$T/out")" "command ran"
assert_contains "$(cat "$T/err")" "agent uploaded via exec" "SFTP skipped"
ok "a .bashrc that prints one blank line: the agent goes through exec, not a stalled SFTP"

# --- the upload hangs: its deadline fails the host, the run goes on --------
set_bashrc "$hang"
cold
st=0
# 6 s: the good hosts' cold uploads must fit in it under ASan and a loaded CI.
MUSTER_UPLOAD_TIMEOUT=6 timeout -s KILL $((60 * SLOW)) "$MUSTER" run "${MUSTER_OPTS[@]}" \
	-w "$a,$good" -- echo hello >"$T/out" 2>"$T/err" || st=$?
((st != 137)) || fail "the run with a hung upload never ended: $(tail -n 5 "$T/err")"
assert_eq 3 "$st" "hung upload: exit status (stderr: $(tail -n 5 "$T/err"))"
assert_contains "$(cat "$T/out" "$T/err")" "$a: timeout: timed out after 6 s in agent upload" "hung host times out in the upload"
assert_eq 2 "$(grep -c ': hello$' "$T/out")" "the good hosts ran the command"
assert_contains "$(cat "$T/err")" "3 hosts: 2 ok, 0 failed, 1 unreachable" "summary"
ok "an upload that hangs ends at its deadline, the other hosts finish, the summary comes"

# --- SIGTERM while the upload hangs ends the run ---------------------------
hung() { if [[ -f $pids ]]; then wc -l <"$pids"; else echo 0; fi; }
before=$(hung)
set_bashrc "$hang"
cold
timeout -s KILL $((40 * SLOW)) "$MUSTER" run "${MUSTER_OPTS[@]}" -w "$a,$good" -- echo hello \
	>"$T/out" 2>"$T/err" &
tpid=$!
for _ in $(seq $((300 * SLOW))); do
	(($(hung) > before)) && break
	sleep 0.1
done
(($(hung) > before)) || fail "the upload never reached the hanging shell: $(cat "$T/err")"
mpid=$(pgrep -P "$tpid") || fail "no muster under timeout"
kill -TERM "$mpid"
st=0
wait "$tpid" || st=$?
((st != 137)) || fail "SIGTERM did not end a hung bootstrap: $(tail -n 5 "$T/err")"
assert_contains "$(cat "$T/err")" "interrupted; cancelling" "the signal was seen"
assert_contains "$(cat "$T/err")" "3 hosts:" "summary after SIGTERM"
assert_contains "$(grep -h "^$a: " "$T/out" "$T/err")" "unreachable" "the hung host is not ok"
ok "SIGTERM during a hung upload ends the run (exit status $st)"

# --- a host without SFTP: stty and noise, then a hung exec upload ----------
addr=$FLEET_NET.231 # outside the fleet
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" >/dev/null
{
	sshd_base_config "$addr" "$u"
	cat <<CFG
UseDNS no
CFG
} >"$T/sshd_config"
/usr/sbin/sshd -f "$T/sshd_config" -E "$T/sshd.log"
at_exit 'kill "$(cat "$T/sshd.pid")" 2>/dev/null || true'
for _ in $(seq $((600 * SLOW))); do ss -ltn | grep "$addr:22 " >/dev/null && break; sleep 0.1; done
echo "$addr $(cut -d' ' -f1-2 "$T/hostkey.pub")" >"$T/kh"
nosftp=(-k "$KEY" -F /dev/null --known-hosts "$T/kh")

set_bashrc "stty -echo; $noise"
cold
st=0
timeout -s KILL $((60 * SLOW)) "$MUSTER" run "${nosftp[@]}" -v -w "$u@$addr" -- echo hello \
	>"$T/out" 2>"$T/err" || st=$?
((st != 137)) || fail "no SFTP, stty and noise: the run never ended: $(tail -n 5 "$T/err")"
assert_eq 0 "$st" "no SFTP, stty and noise: exit status (stderr: $(tail -n 5 "$T/err"))"
assert_eq "$addr: hello" "$(cat "$T/out")" "command ran"
assert_contains "$(cat "$T/err")" "agent uploaded via exec" "uploaded through exec"
ok "a host without SFTP whose .bashrc runs stty and prints: the agent is uploaded through exec"

set_bashrc "$hang"
cold
st=0
MUSTER_UPLOAD_TIMEOUT=3 timeout -s KILL $((60 * SLOW)) "$MUSTER" run "${nosftp[@]}" -w "$u@$addr" \
	-- echo hello >"$T/out" 2>"$T/err" || st=$?
((st != 137)) || fail "no SFTP, hung exec upload: the run never ended: $(tail -n 5 "$T/err")"
assert_eq 3 "$st" "no SFTP, hung exec upload: exit status"
assert_contains "$(cat "$T/out" "$T/err")" "$addr: timeout: timed out after 3 s in agent upload" "hung exec upload times out"
assert_contains "$(cat "$T/err")" "1 host: 0 ok, 0 failed, 1 unreachable" "summary"
ok "a hung exec upload ends at its deadline"

# --- uploads wait for a worker: their time runs from when one takes them --
# The controller uploads with 4 worker threads. Four hosts whose uploads
# hang hold them for MUSTER_UPLOAD_TIMEOUT (8 s); a fifth host, cold, whose
# login is a second slower (so that it queues behind them) and whose upload
# takes 2 s, waits some 7 s for a worker and then uploads in 2 s: within
# its 8 s, so it must run. Timed from the queue it fails (9 s: "timed out
# after 8 s in agent upload"). The four time out 8 s after a worker took
# each. 8 s, not less: under ASan with the CI's other phases beside, a 2 s
# upload took more than 3 s (the deadline this test had first).
qhosts=(10 11 12 13)
qgood=18
for n in "${qhosts[@]}" "$qgood"; do
	h=$(fleet_home $n)
	cp -p "$h/.bashrc" "$T/bashrc.$n"
	at_exit "cp -p '$T/bashrc.$n' '$h/.bashrc'; [[ -s '$h/.muster-test-hang.pids' ]] && kill \$(cat '$h/.muster-test-hang.pids') 2>/dev/null; rm -f '$h/.muster-test-hang.pids'"
	rm -rf "$h/.cache/muster"
	if ((n == qgood)); then
		line="case \$BASH_EXECUTION_STRING in *sftp-server*|*'dd of='*) sleep 2;; *) sleep 1;; esac"
	else
		line="case \$BASH_EXECUTION_STRING in *sftp-server*|*'dd of='*) echo \$\$ >>'$h/.muster-test-hang.pids'; exec sleep 120;; esac"
	fi
	{ printf '%s\n' "$line"; cat "$T/bashrc.$n"; } >"$h/.bashrc"
done
sel=$(for n in "${qhosts[@]}" "$qgood"; do printf '%s,' "$(fleet_addr $n)"; done)
st=0
MUSTER_UPLOAD_TIMEOUT=8 timeout -s KILL $((90 * SLOW)) "$MUSTER" run "${MUSTER_OPTS[@]}" -w "${sel%,}" \
	-- echo hello >"$T/out" 2>"$T/err" || st=$?
((st != 137)) || fail "uploads queued behind hung ones: the run never ended: $(tail -n 5 "$T/err")"
assert_eq "$(fleet_addr $qgood): hello" "$(grep ': hello$' "$T/out")" \
	"the host that waited for a worker ran (out: $(cat "$T/out"); err: $(cat "$T/err"))"
for n in "${qhosts[@]}"; do
	assert_contains "$(cat "$T/out" "$T/err")" "$(fleet_addr $n): timeout: timed out after 8 s in agent upload" \
		"host $n's hung upload timed out on its own clock"
done
assert_contains "$(cat "$T/err")" "5 hosts: 1 ok, 0 failed, 4 unreachable" "summary"
ok "an upload that waits for a worker is timed from when one takes it: the host behind four hung uploads runs"

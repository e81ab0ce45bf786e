#!/usr/bin/env bash
# A login profile that reads stdin (issue 18 section 4): one that reads a
# line gets an empty one, on a cold host the agent is uploaded and on a
# warm one the cached agent starts; one that
# reads stdin to its end fails with the cause named, not just "timed out".
. "$(dirname "$0")/lib.sh"

n=14
a=$(fleet_addr $n)
home=$(fleet_home $n)
rc=$home/.bashrc
[[ $(getent passwd "$(fleet_user $n)" | cut -d: -f7) == */bash ]] || fail "host $n's user has no bash login shell"
if [[ -e $rc ]]; then cp -p "$rc" "$T/bashrc.orig"; at_exit "cp -p '$T/bashrc.orig' '$rc'"; else at_exit "rm -f '$rc'"; fi
cd "$T"

run() { # run ARGS...: muster run into $T/out, $T/err; status in $st
	st=0
	timeout -s KILL $((120 * SLOW)) "$MUSTER" run "$@" >"$T/out" 2>"$T/err" </dev/null || st=$?
	((st != 137)) || fail "muster never ended: $(tail -n 3 "$T/err")"
}

# A cold host: no agent anywhere, so the first contact uploads it
# through the login shell, whose profile reads lines of stdin (bash
# sources ~/.bashrc for a command from sshd; read waits for a line).
printf 'read -r answer\nread -r again\n' >"$rc"
rm -rf "$home/.cache/muster" \
	"/dev/shm/muster-$(id -u "$(fleet_user $n)")" "/tmp/muster-$(id -u "$(fleet_user $n)")"
run "${MUSTER_OPTS[@]}" -v -w "$a" -- echo cold
assert_eq 0 "$st" "a cold host whose profile reads lines: exit status ($(cat "$T/err"))"
assert_eq "$a: cold" "$(cat "$T/out")" "a cold host: output"
assert_contains "$(cat "$T/err")" "agent uploaded" "a cold host: the agent was uploaded"
ok "a cold host whose login profile reads lines of stdin gets its agent and runs a command"

run "${MUSTER_OPTS[@]}" -w "$a" -- echo hi
assert_eq 0 "$st" "a profile reading lines: exit status ($(cat "$T/err"))"
assert_eq "$a: hi" "$(cat "$T/out")" "output"
# The empty lines the profile left do not reach the command's stdin.
got=$(printf 'x\n' | timeout -s KILL $((120 * SLOW)) "$MUSTER" run "${MUSTER_OPTS[@]}" -w "$a" --stdin -- cat 2>"$T/err") || fail "--stdin: $got $(cat "$T/err")"
assert_eq "$a: x" "$got" "the command's stdin is the controller's, nothing more"
# Without the start link the probe starts the agent: it gets the lead-in too.
rm -f "$home"/.cache/muster/muster-agent-set-*
run "${MUSTER_OPTS[@]}" -w "$a" -- echo probed
assert_eq 0 "$st" "a profile reading lines, through the probe: exit status ($(cat "$T/err"))"
assert_eq "$a: probed" "$(cat "$T/out")" "through the probe: output"
ok "a login profile that reads lines of stdin: the cached agent starts (link and probe)"

# One that reads stdin to its end never finishes: named, at the timeout.
printf 'cat >/dev/null\n' >"$rc"
run "${MUSTER_OPTS[@]}" --connect-timeout 1 -w "$a" -- echo hi
assert_eq 3 "$st" "a profile reading stdin to its end: exit status"
assert_contains "$(cat "$T/out" "$T/err")" "in agent start (the login shell's start-up files did not finish: one reading stdin" "the cause named"
ok "a login profile that reads stdin to its end: the timeout names the cause"

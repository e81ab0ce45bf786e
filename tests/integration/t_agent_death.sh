#!/usr/bin/env bash
# An agent killed outright (SIGKILL, no chance to clean up) takes its
# commands with it: their whole process groups, background children
# included, as a cancel would. Its guard (agent/guard.c) does it.
. "$(dirname "$0")/lib.sh"

h() { echo "$(fleet_user "$1")@$(fleet_addr "$1")"; }
agent_pid() { pgrep -u "$(fleet_user "$1")" -f 'muster-agent-.* --stdio' | head -n 1 || true; }
# Processes of host I's user whose command line is exactly CMD.
count_of() { pgrep -c -u "$(fleet_user "$1")" -xf "$2" || true; }
wait_count() { # I CMD N TENTHS: until host I has N of CMD
	for _ in $(seq "$4"); do
		[[ $(count_of "$1" "$2") == "$3" ]] && return 0
		sleep 0.1
	done
	return 1
}

# A distinct duration per case, so that nothing else matches.
for spec in "7 sleep 301:plain" "8 sleep 302:tree" "9 sleep 303:tty"; do
	i=${spec%% *} rest=${spec#* } cmd=${rest%%:*} kind=${rest##*:}
	u=$(fleet_user "$i")
	pkill -KILL -u "$u" -xf "$cmd" 2>/dev/null || true
	case $kind in
	plain) remote="$cmd; echo x" n=1 opts=() ;;
	# A tree: one child in the background, one in the foreground.
	tree) remote="$cmd & $cmd & $cmd; echo x" n=3 opts=() ;;
	tty) remote="$cmd; echo x" n=1 opts=(--tty) ;;
	esac
	"$MUSTER" run "${MUSTER_OPTS[@]}" "${opts[@]}" -w "$(h "$i")" -- "$remote" \
		>"$T/out.$i" 2>&1 &
	mpid=$!
	at_exit "kill $mpid 2>/dev/null || true; pkill -KILL -u '$u' -xf '$cmd' || true"
	wait_count "$i" "$cmd" "$n" $((150 * SLOW)) ||
		fail "$kind: the command did not start on host $i ($(count_of "$i" "$cmd") of $n)"
	apid=$(agent_pid "$i")
	[[ -n $apid ]] || fail "$kind: no agent on host $i"
	kill -KILL "$apid"
	# The controller notices the lost agent and ends.
	set +e; wait "$mpid"; set -e
	wait_count "$i" "$cmd" 0 $((100 * SLOW)) ||
		fail "$kind: $(count_of "$i" "$cmd") of '$cmd' outlived the agent SIGKILLed on host $i"
	ok "$kind: the command's group died with its SIGKILLed agent"
done

# After a normal end nothing is left behind either: the guard goes with
# its agent.
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$(h 7)" -- true >/dev/null
for _ in $(seq $((50 * SLOW))); do
	pgrep -u "$(fleet_user 7)" -x 'muster guard' >/dev/null || break
	sleep 0.1
done
pgrep -u "$(fleet_user 7)" -x 'muster guard' >/dev/null && fail "a guard outlived its agent"
ok "no guard outlives its agent"

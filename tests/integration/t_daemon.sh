#!/usr/bin/env bash
# muster daemon: held agents, the CLI through it, on-demand hosts, several
# clients at once, a client killed mid-run, a host that drops and comes
# back, push/pull/watch through it, --status and --stop.
. "$(dirname "$0")/lib.sh"

export MUSTER_DAEMON_SOCKET=$T/d/daemon.sock
D=("${MUSTER_OPTS[@]}")
hostlist() { local i out=''; for i in "$@"; do out+="${out:+,}$(fleet_user "$i")@$(fleet_addr "$i")"; done; echo "$out"; }
json_count() { python3 -c 'import json,sys; print(sum(1 for l in sys.stdin if json.loads(l).get(sys.argv[1]) == sys.argv[2]))' "$1" "$2"; }

# Without a daemon, --status says so and fails.
set +e
"$MUSTER" daemon --status >"$T/s" 2>&1; rc=$?
set -e
assert_eq 1 "$rc" "--status without a daemon"
assert_contains "$(cat "$T/s")" "no daemon running" "--status without a daemon"

"$MUSTER" daemon -i "$INV" --known-hosts "$KH" -k "$KEY" -F /dev/null \
	-w "$(hostlist 1 2 3 4 5)" >"$T/start"
at_exit '"$MUSTER" daemon --stop >/dev/null 2>&1'
assert_contains "$(cat "$T/start")" "socket $MUSTER_DAEMON_SOCKET" "start message"
assert_eq 600 "$(stat -c %a "$MUSTER_DAEMON_SOCKET")" "socket mode"
assert_eq 700 "$(stat -c %a "$T/d")" "socket directory mode"
# A second daemon on the same socket refuses to start.
set +e
"$MUSTER" daemon --known-hosts "$KH" -k "$KEY" >/dev/null 2>"$T/e2"; rc=$?
set -e
assert_eq 1 "$rc" "second daemon"
assert_contains "$(cat "$T/e2")" "already serves" "second daemon"
ok "daemon starts; socket 0600 in a 0700 directory; one per socket"

# Wait until the five hosts are held.
for _ in $(seq $((100 * SLOW))); do
	"$MUSTER" daemon --status --json >"$T/st"
	n=$(python3 -c 'import json,sys; print(sum(h["state"]=="ready" for h in json.load(sys.stdin)["hosts"]))' <"$T/st")
	((n == 5)) && break
	sleep 0.2
done
assert_eq 5 "$n" "hosts ready in the daemon"
"$MUSTER" daemon --status >"$T/st.txt"
assert_contains "$(cat "$T/st.txt")" "5 hosts held (5 ready)" "status text"
ok "--status: 5 hosts held and ready"

# Same output and exit status through the daemon as direct.
cmd='echo out-$USER; echo err >&2; test "$USER" != '"$(fleet_user 2)"
set +e
"$MUSTER" run "${D[@]}" -w "$(hostlist 1 2 3)" -b -v -- "$cmd" >"$T/via" 2>"$T/via.err"; rc1=$?
"$MUSTER" run "${D[@]}" --no-daemon -w "$(hostlist 1 2 3)" -b -- "$cmd" >"$T/direct" 2>/dev/null; rc2=$?
set -e
assert_contains "$(cat "$T/via.err")" "using the daemon" "run used the daemon"
assert_eq 1 "$rc1" "exit status through the daemon"
assert_eq "$rc2" "$rc1" "same exit status direct"
assert_file_eq "$T/direct" "$T/via" "same gathered output direct and through the daemon"
ok "run through the daemon: same output and exit status as direct"

# A host the daemon does not hold yet is connected on demand and kept.
out=$("$MUSTER" run "${D[@]}" -w "$(hostlist 6)" -- id -un)
assert_eq "$(fleet_addr 6): $(fleet_user 6)" "$out" "on-demand host"
"$MUSTER" daemon --status >"$T/st.txt"
assert_contains "$(cat "$T/st.txt")" "6 hosts held" "on-demand host is kept"
ok "a host not held is connected on demand and kept"

# Several clients at once share the channels: two 1 s commands on the
# same hosts run side by side.
start=$(date +%s.%N)
"$MUSTER" run "${D[@]}" -w "$(hostlist 1 2 3 4 5)" -- 'sleep 1; echo a' >"$T/c1" &
p1=$!
"$MUSTER" run "${D[@]}" -w "$(hostlist 1 2 3 4 5)" -- 'sleep 1; echo b' >"$T/c2" &
p2=$!
wait "$p1" "$p2"
assert_eq 5 "$(grep -c ': a$' "$T/c1")" "client 1 output"
assert_eq 5 "$(grep -c ': b$' "$T/c2")" "client 2 output"
ok "two clients at once"

# A client that dies mid-run has its commands cancelled on the agents.
u1=$(fleet_user 1)
"$MUSTER" run "${D[@]}" -w "$(hostlist 1)" -- 'echo $$ > /tmp/muster-dmn.$USER; exec sleep 300' >/dev/null 2>&1 &
pc=$!
for _ in $(seq $((100 * SLOW))); do [[ -s /tmp/muster-dmn.$u1 ]] && break; sleep 0.1; done
rpid=$(cat "/tmp/muster-dmn.$u1")
at_exit "rm -f /tmp/muster-dmn.$u1"
kill -9 "$pc"
wait "$pc" 2>/dev/null || true
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat")" != Z ]; }
for _ in $(seq $((100 * SLOW))); do alive "$rpid" || break; sleep 0.1; done
alive "$rpid" && fail "remote command $rpid survived its client's death"
ok "a client killed mid-run has its command cancelled"

# push, pull and watch through the daemon.
head -c 3000000 /dev/urandom >"$T/blob"
"$MUSTER" push "${D[@]}" -w "$(hostlist 1 2 3)" --no-progress "$T/blob" blob.d >"$T/push.out"
for i in 1 2 3; do assert_file_eq "$T/blob" "$(fleet_home "$i")/blob.d" "pushed file on host $i"; done
"$MUSTER" pull "${D[@]}" -w "$(hostlist 2)" blob.d "$T/pulled" >/dev/null
assert_file_eq "$T/blob" "$T/pulled/$(fleet_addr 2)/blob.d" "pulled file"
# Until 4 samples are in (a fixed window may close first under load).
"$MUSTER" watch "${D[@]}" -w "$(hostlist 1 2)" --interval 0.25 --duration $((120 * SLOW)) --json >"$T/w" &
wpid=$!
at_exit "kill $wpid 2>/dev/null || true"
start=$SECONDS
until (($(grep -c '"cpu_pct"' "$T/w" || true) >= 4)); do
	kill -0 "$wpid" 2>/dev/null || fail "watch through the daemon ended: $(head -c 300 "$T/w")"
	((SECONDS - start < 60 * SLOW)) || fail "watch through the daemon gave $(grep -c '"cpu_pct"' "$T/w" || true) samples in $((60 * SLOW)) s"
	sleep 0.1
done
kill "$wpid"
wait "$wpid" 2>/dev/null || true
ok "push, pull and watch through the daemon"

# A host that drops is reconnected with back-off; a run meanwhile reports
# it down, and works again once it is back.
# The listener dies and so does every session of the host's user: the
# daemon's channel with them.
fleet_kill 4
pkill -9 -u "$(fleet_user 4)" || true
sleep 0.5
set +e
"$MUSTER" run "${D[@]}" -w "$(hostlist 4 5)" --json -- true >"$T/k" 2>/dev/null; rc=$?
set -e
assert_eq 3 "$rc" "exit status with a dropped host"
assert_eq 1 "$(json_count status ok <"$T/k")" "the other host is fine"
fleet_start 4
for _ in $(seq $((150 * SLOW))); do
	"$MUSTER" daemon --status --json >"$T/st"
	st=$(python3 -c 'import json,sys; print([h["state"] for h in json.load(sys.stdin)["hosts"] if h["host"].endswith("'"$(fleet_addr 4)"'")][0])' <"$T/st")
	[[ $st == ready ]] && break
	sleep 0.2
done
assert_eq ready "$st" "dropped host back in the daemon"
out=$("$MUSTER" run "${D[@]}" -w "$(hostlist 4)" -- echo back)
assert_eq "$(fleet_addr 4): back" "$out" "run after the host came back"
ok "a dropped host is reconnected"

# Other users cannot reach the socket.
set +e
# (Its own home and config: the test's XDG directories are root's.)
runuser -u "$(fleet_user 1)" -- env -u XDG_CONFIG_HOME -u XDG_CACHE_HOME \
	HOME="$(fleet_home 1)" MUSTER_DAEMON_SOCKET="$MUSTER_DAEMON_SOCKET" \
	"$MUSTER" daemon --status >"$T/o" 2>&1; rc=$?
set -e
assert_eq 1 "$rc" "another user's --status"
ok "another user cannot use the daemon"

dpid=$("$MUSTER" daemon --status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
"$MUSTER" daemon --stop >"$T/stop"
assert_contains "$(cat "$T/stop")" "stopped" "--stop"
for _ in $(seq $((50 * SLOW))); do [[ -e $MUSTER_DAEMON_SOCKET ]] || break; sleep 0.1; done
[[ -e $MUSTER_DAEMON_SOCKET ]] && fail "socket left after --stop"
for _ in $(seq $((100 * SLOW))); do alive "$dpid" || break; sleep 0.1; done
alive "$dpid" && fail "daemon $dpid still running after --stop"
# A sanitizer build reports leaks and errors at exit, into the log.
if grep -E 'Sanitizer|runtime error' "$T/d/daemon.log" >&2; then
	fail "the daemon's log has sanitizer reports"
fi
out=$("$MUSTER" run "${D[@]}" -v -w "$(hostlist 1)" -- echo direct 2>"$T/e")
assert_eq "$(fleet_addr 1): direct" "$out" "direct after stop"
[[ $(cat "$T/e") == *"using the daemon"* ]] && fail "used a stopped daemon"
ok "--stop ends the daemon; runs go direct"

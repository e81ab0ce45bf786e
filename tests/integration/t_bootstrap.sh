#!/usr/bin/env bash
# Bootstrap edge cases: a host without an SFTP subsystem gets the agent
# through an exec channel; two sessions sharing one home bootstrap at the
# same moment without corrupting each other.
. "$(dirname "$0")/lib.sh"

# --- no SFTP subsystem: a private sshd for host 5's user, without sftp ---
addr=$FLEET_NET.230 # outside the fleet
u=$(fleet_user 5)
home=$(fleet_home 5)
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" >/dev/null
# A second address reached by name (localhost), through the resolver thread.
lport=$(freeport 127.0.0.1)
cat >"$T/sshd_config" <<CFG
ListenAddress $addr:22
ListenAddress 127.0.0.1:$lport
HostKey $T/hostkey
PidFile $T/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AllowUsers $u
AuthorizedKeysFile .ssh/authorized_keys
UseDNS no
CFG
/usr/sbin/sshd -f "$T/sshd_config" -E "$T/sshd.log"
at_exit 'kill "$(cat "$T/sshd.pid")" 2>/dev/null || true'
for _ in $(seq $((600 * SLOW))); do ss -ltn | grep "$addr:22 " >/dev/null && ss -ltn | grep "127.0.0.1:$lport " >/dev/null && break; sleep 0.1; done
echo "$addr $(cut -d' ' -f1-2 "$T/hostkey.pub")" >"$T/kh"
echo "[localhost]:$lport $(cut -d' ' -f1-2 "$T/hostkey.pub")" >>"$T/kh"

rm -rf "$home/.cache/muster"
"$MUSTER" run -k "$KEY" -F /dev/null --known-hosts "$T/kh" -v -w "$u@$addr" -- echo via exec >"$T/out" 2>"$T/err" ||
	fail "run without sftp failed: $(cat "$T/err")"
assert_contains "$(cat "$T/err")" "agent uploaded via exec" "exec fallback used"
assert_eq "$addr: via exec" "$(cat "$T/out")" "command ran"
agent=$(ls "$home"/.cache/muster/muster-agent-[0-9a-f]*)
[ "$(stat -c %a "$agent")" = 700 ] || fail "agent mode $(stat -c %a "$agent")"
sha=$(sha256sum <"$agent" | cut -d' ' -f1)
assert_eq "${agent##*-}" "$sha" "uploaded agent matches its name"
ok "host without SFTP gets the agent through exec"

"$MUSTER" run -k "$KEY" -F /dev/null --known-hosts "$T/kh" -w "$u@localhost:$lport" -- echo by name >"$T/out" 2>"$T/err" ||
	fail "run by host name failed: $(cat "$T/err")"
assert_eq "localhost:$lport: by name" "$(cat "$T/out")" "host name resolved off the loop"
ok "host names are resolved"

# --- shared home: the same account twice, bootstrapping at once ---
u6=$(fleet_user 6)
a6=$(fleet_addr 6)
home6=$(fleet_home 6)
for round in 1 2 3; do
	rm -rf "$home6/.cache/muster"
	"$MUSTER" run "${MUSTER_OPTS[@]}" -v -w "$u6@$a6,$u6@$a6:22" -- echo shared >"$T/out" 2>"$T/err" ||
		fail "shared-home run $round failed: $(cat "$T/err")"
	assert_eq 2 "$(grep -c ': shared$' "$T/out")" "both sessions ran (round $round)"
	# Both normally upload at once; on a loaded machine the second may
	# start late enough to find the first one's agent, which is fine.
	n=$(grep -c 'agent uploaded' "$T/err" || true)
	((n >= 1)) || fail "no session uploaded the agent (round $round)"
	((n == 2)) && both=$((${both:-0} + 1))
	left=$(ls -A "$home6/.cache/muster")
	assert_eq 2 "$(echo "$left" | wc -l)" "only the agent and its start link remain, no temporary files: $left"
	assert_eq 1 "$(echo "$left" | grep -c '^muster-agent-set-')" "one start link: $left"
done
ok "concurrent bootstrap into one home (both sessions uploaded at once in ${both:-0} of 3 rounds)"

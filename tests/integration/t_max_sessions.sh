#!/usr/bin/env bash
# sshd "MaxSessions 1" (issue 18 section 4): a cold first contact (no agent
# on the host: fast start, probe, upload, start) must never hold two session
# channels at once. Ten hosts, one sshd listening on ten addresses, each
# host a fleet user of its own with an empty cache.
. "$(dirname "$0")/lib.sh"

((FLEET_N >= 10)) || fail "needs 10 fleet users"
cd "$T"
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey"
users=() hosts=()
: >"$T/kh"
{
	sshd_base_config "$FLEET_NET.221" "$(fleet_user 1)" | grep -v '^AllowUsers'
	echo "MaxSessions 1"
	echo "Subsystem sftp internal-sftp"
	for i in $(seq 10); do
		users+=("$(fleet_user "$i")")
		echo "ListenAddress $FLEET_NET.$((220 + i)):22"
	done
	echo "AllowUsers ${users[*]}"
} >"$T/sshd_config"
for i in $(seq 10); do
	addr=$FLEET_NET.$((220 + i))
	hosts+=("$(fleet_user "$i")@$addr")
	echo "$addr $(cut -d' ' -f1-2 "$T/hostkey.pub")" >>"$T/kh"
done
/usr/sbin/sshd -f "$T/sshd_config" -E "$T/sshd.log" || fail "sshd did not start: $(tail -n 3 "$T/sshd.log")"
at_exit 'kill "$(cat "$T/sshd.pid")" 2>/dev/null || true'
for _ in $(seq $((600 * SLOW))); do ss -ltn | grep "$FLEET_NET.230:22 " >/dev/null && break; sleep 0.1; done
own=(-k "$KEY" -F /dev/null --known-hosts "$T/kh")
list=$(IFS=,; echo "${hosts[*]}")

for round in 1 2; do
	for i in $(seq 10); do rm -rf "$(fleet_home "$i")/.cache/muster"; done
	st=0
	timeout -s KILL $((120 * SLOW)) "$MUSTER" run "${own[@]}" -w "$list" -- echo hi >"$T/out" 2>"$T/err" </dev/null || st=$?
	assert_eq 0 "$st" "MaxSessions 1, cold, round $round: exit status ($(cat "$T/out" "$T/err"))"
	assert_eq 10 "$(grep -c ': hi$' "$T/out")" "every host answered"
done
ok "MaxSessions 1: ten cold hosts, twice"

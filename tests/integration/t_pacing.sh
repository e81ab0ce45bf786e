#!/usr/bin/env bash
# Connection pacing: 40 "hosts" that are one sshd (each fleet user on two
# ports), as hosts behind one bastion share its budget. The sshd allows 4
# unauthenticated connections and drops every one past them (MaxStartups
# 4:100:4), so its log counts exactly how often a run had more in flight.
# Paced to 2 (--max-startups 2), sshd never drops one; unpaced, it drops
# many, which muster retries: the test fails when pacing breaks.
. "$(dirname "$0")/lib.sh"

ADDR=$FLEET_NET.240 # outside the fleet
N=40
PORTS=(2201 2202)
d=$T/bastion
mkdir -p "$d"
ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey"
{
	for p in "${PORTS[@]}"; do echo "ListenAddress $ADDR:$p"; done
	cat <<CFG
HostKey $d/hostkey
PidFile $d/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $FLEET_USER_PREFIX*
UseDNS no
MaxStartups 4:100:4
MaxSessions 64
Subsystem sftp /usr/lib/openssh/sftp-server
CFG
} >"$d/sshd_config"
/usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" || fail "sshd: $(tail -n 3 "$d/sshd.log")"
at_exit 'kill "$(cat "$T/bastion/sshd.pid")" 2>/dev/null'
for _ in $(seq $((600 * SLOW))); do [[ -s $d/sshd.pid ]] && break; sleep 0.1; done
for p in "${PORTS[@]}"; do
	echo "[$ADDR]:$p $(cut -d' ' -f1,2 "$d/hostkey.pub")"
done >"$d/known_hosts"
hosts=''
for p in "${PORTS[@]}"; do
	for i in $(seq $((N / ${#PORTS[@]}))); do hosts+="${hosts:+,}$(fleet_user "$i")@$ADDR:$p"; done
done
opts=(--known-hosts "$d/known_hosts" -k "$KEY" -F /dev/null -w "$hosts")

# Cached agents make the run about the handshakes alone.
"$MUSTER" run "${opts[@]}" --max-startups 1 -- true >/dev/null 2>&1 || true

drops() { grep -c 'past MaxStartups' "$d/sshd.log" || true; }
before=$(drops)
"$MUSTER" run "${opts[@]}" --max-startups 2 --json -- true >"$T/paced" 2>"$T/paced.err" ||
	fail "paced run failed: $(tail -n 3 "$T/paced.err")"
assert_eq "$N" "$(grep -c '"status":"ok"' "$T/paced")" "every host when paced"
assert_eq 0 "$(($(drops) - before))" "connections sshd dropped past MaxStartups while paced"
ok "--max-startups 2 under MaxStartups 4:100:4: $N/$N hosts, none dropped"

# Unpaced, sshd drops connections past its 4: some hosts get in on a
# retry (a connection dropped before its banner is tried again, up to 3
# times), some run out of retries; what matters here is that the same
# sshd does drop them when muster does not pace itself.
before=$(drops)
"$MUSTER" run "${opts[@]}" --max-startups 0 --connect-rate 0 --json -- true >"$T/unpaced" 2>/dev/null || true
dropped=$(($(drops) - before))
((dropped > 0)) || fail "unpaced, sshd dropped nothing: the paced check above proves nothing"
ok "unpaced: $dropped connections dropped by sshd, $(grep -c '"status":"ok"' "$T/unpaced")/$N hosts in"

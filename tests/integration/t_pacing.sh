#!/usr/bin/env bash
# Connection pacing: 40 "hosts" that are one sshd with stock MaxStartups
# 10:30:100 (each fleet user on two ports), as hosts behind one bastion
# share its budget.
# With the defaults every one of them gets in; with no limit some are
# refused (which shows the test can fail).
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
MaxStartups 10:30:100
MaxSessions 64
Subsystem sftp /usr/lib/openssh/sftp-server
CFG
} >"$d/sshd_config"
/usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" || fail "sshd: $(tail -n 3 "$d/sshd.log")"
at_exit 'kill "$(cat "$T/bastion/sshd.pid")" 2>/dev/null'
for _ in $(seq 50); do [[ -s $d/sshd.pid ]] && break; sleep 0.1; done
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
"$MUSTER" run "${opts[@]}" --json -- true >"$T/paced" 2>"$T/paced.err" ||
	fail "paced run failed: $(tail -n 3 "$T/paced.err")"
assert_eq "$N" "$(grep -c '"status":"ok"' "$T/paced")" "every host with the default pacing"
ok "defaults under MaxStartups 10:30:100: $N/$N hosts ($(($(drops) - before)) connections dropped by sshd and retried)"

# Unpaced, sshd drops connections; dropped before its banner, they are
# tried again, so still no host is lost.
before=$(drops)
"$MUSTER" run "${opts[@]}" --max-startups 0 --connect-rate 0 --json -- true >"$T/unpaced" 2>/dev/null ||
	fail "unpaced run lost hosts: $(grep -v '"status":"ok"' "$T/unpaced" | head -n 3)"
ok "unpaced: $N/$N hosts ($(($(drops) - before)) connections dropped by sshd and retried)"

#!/usr/bin/env bash
# A relay on a gateway of another architecture: a gateway whose `uname -m`
# says aarch64 gets muster-relay.aarch64 (controller/relay/cross.cmake) and
# runs it for real (qemu-user through binfmt_misc); run and push go through
# it to the hosts behind it, which get their own architecture's agent; a
# gateway of an architecture without a relay fails its hosts, naming the
# build option, and gets nothing uploaded.
#
# The gateway is a private sshd whose SetEnv puts a `uname` wrapper first
# on the PATH (as t_arch); the hosts behind it are two of the fleet's.
# Registered only in builds with an aarch64 relay (tests/CMakeLists.txt).
. "$(dirname "$0")/lib.sh"

r64="$BUILD_DIR/bin/muster-relay.aarch64"
[[ -f $r64 ]] || fail "this build has no aarch64 relay ($r64; MUSTER_RELAY_ARCHES)"
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] ||
	fail "qemu-user-static is not registered with binfmt_misc (deploy/install-deps does it)"
command -v ssh-agent >/dev/null || fail "ssh-agent is not installed"

gw=$FLEET_NET.232 # outside the fleet
u=$(fleet_user 6)
home=$(fleet_home 6)
fake="$T/fake"
mkdir -p "$fake/bin"
chmod 755 "$T" "$fake" "$fake/bin"
echo aarch64 >"$fake/machine"
chmod 644 "$fake/machine"
printf '#!/bin/sh\n[ "$1" = -m ] && exec cat "%s"\nexec /bin/uname "$@"\n' "$fake/machine" >"$fake/bin/uname"
chmod 755 "$fake/bin/uname"

ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" >/dev/null
{
	sshd_base_config "$gw" "$u"
	echo "UseDNS no"
	echo "Subsystem sftp internal-sftp"
	echo "AllowAgentForwarding yes"
	echo "SetEnv PATH=$fake/bin:/usr/local/bin:/usr/bin:/bin"
} >"$T/sshd_config"
/usr/sbin/sshd -f "$T/sshd_config" -E "$T/sshd.log"
at_exit 'kill "$(cat "$T/sshd.pid")" 2>/dev/null || true'
for _ in $(seq $((600 * SLOW))); do ss -ltn | grep "$gw:22 " >/dev/null && break; sleep 0.1; done
{
	echo "$gw $(cut -d' ' -f1-2 "$T/hostkey.pub")"
	echo "$FLEET_NET.2 $(fleet_key 2)"
	echo "$FLEET_NET.3 $(fleet_key 3)"
} >"$T/kh"
printf 'Host gw\n    HostName %s\n    User %s\n' "$gw" "$u" >"$T/ssh_config"
HOSTS="$(fleet_user 2)@$FLEET_NET.2,$(fleet_user 3)@$FLEET_NET.3"

# The operator's ssh-agent: the relay's hosts see only what it signs.
agent_with "$KEY"
MU_OPTS=(--relay gw) # mu: through the relay on gw

# --- the aarch64 relay is uploaded, runs under qemu, reaches the hosts ---
rm -rf "$home/.cache/muster"
mu run -v -w "$HOSTS" -- 'echo "$(uname -m) behind"'
assert_eq 0 "$rc" "run through the aarch64 relay: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/out")" "$FLEET_NET.2: $(uname -m) behind" "host 2 answered"
assert_contains "$(cat "$T/out")" "$FLEET_NET.3: $(uname -m) behind" "host 3 answered"
assert_contains "$(cat "$T/err")" "via relay gw" "-v shows the route"
want=$(sha256sum <"$r64" | cut -d' ' -f1)
native=$(sha256sum <"$BUILD_DIR/bin/muster-relay" | cut -d' ' -f1)
ls "$home"/.cache/muster/*"$want"* >/dev/null 2>&1 ||
	fail "the aarch64 relay is not on the gateway: $(ls -A "$home/.cache/muster")"
if ls "$home"/.cache/muster/*"$native"* >/dev/null 2>&1; then
	fail "the gateway got the $(uname -m) relay too"
fi
ok "a gateway that says aarch64 gets the aarch64 relay, which reaches its hosts"

# --- a push through it: lands on both hosts ---
head -c $((1 << 20)) /dev/urandom >"$T/blob"
sum=$(sha256sum <"$T/blob" | cut -d' ' -f1)
mu push -w "$HOSTS" "$T/blob" relay-arch-blob
assert_eq 0 "$rc" "push through the aarch64 relay: $(cat "$T/out" "$T/err")"
for i in 2 3; do
	assert_eq "$sum" "$(sha256sum <"$(fleet_home "$i")/relay-arch-blob" | cut -d' ' -f1)" "pushed to host $i"
	rm -f "$(fleet_home "$i")/relay-arch-blob"
done
ok "push through the aarch64 relay"

# --- a gateway of an architecture without a relay ---
for machine in riscv64 mips64; do
	rm -rf "$home/.cache/muster"
	echo "$machine" >"$fake/machine"
	mu run -w "$HOSTS" -- true
	((rc != 0)) || fail "$machine gateway: run succeeded"
	assert_contains "$(cat "$T/out" "$T/err")" "no relay for $machine (this muster has relays for " "$machine: the reason"
	assert_contains "$(cat "$T/out" "$T/err")" "-DMUSTER_RELAY_ARCHES=aarch64" "$machine: the build option"
	[[ ! -e $home/.cache/muster ]] || [[ -z $(ls -A "$home/.cache/muster") ]] ||
		fail "$machine: something was uploaded: $(ls -A "$home/.cache/muster")"
done
ok "a gateway without a relay for its architecture fails its hosts with what to do"

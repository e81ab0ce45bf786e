#!/usr/bin/env bash
# Architectures: a host whose `uname -m` says aarch64 gets the aarch64 agent
# and runs it for real (qemu-user through binfmt_misc): run, push, pull and
# watch through it; a warm start runs neither the probe nor a hash; an
# architecture without an agent fails that host, naming the build option.
# The host is a private sshd whose SetEnv puts a `uname` wrapper first on
# the PATH.
. "$(dirname "$0")/lib.sh"

a64="$BUILD_DIR/bin/muster-agent.aarch64"
[[ -f $a64 ]] || fail "this build has no aarch64 agent ($a64; MUSTER_AGENT_ARCHES)"
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] ||
	fail "qemu-user-static is not registered with binfmt_misc (deploy/install-deps does it)"

addr=$FLEET_NET.231 # outside the fleet
u=$(fleet_user 7)
home=$(fleet_home 7)
# What the wrapper says, and its log of calls, where the host's user can
# read and write them.
fake="$T/fake"
mkdir -p "$fake/bin"
chmod 755 "$T" "$fake" "$fake/bin"
echo aarch64 >"$fake/machine"
: >"$fake/calls"
chmod 644 "$fake/machine"
chmod 666 "$fake/calls"
cat >"$fake/bin/uname" <<EOF
#!/bin/sh
echo "uname \$*" >>"$fake/calls"
[ "\$1" = -m ] && exec cat "$fake/machine"
exec /bin/uname "\$@"
EOF
cat >"$fake/bin/sha256sum" <<EOF
#!/bin/sh
echo sha256sum >>"$fake/calls"
exec /usr/bin/sha256sum "\$@"
EOF
chmod 755 "$fake/bin/uname" "$fake/bin/sha256sum"

ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" >/dev/null
{
	sshd_base_config "$addr" "$u"
	cat <<CFG
UseDNS no
Subsystem sftp internal-sftp
SetEnv PATH=$fake/bin:/usr/local/bin:/usr/bin:/bin
CFG
} >"$T/sshd_config"
/usr/sbin/sshd -f "$T/sshd_config" -E "$T/sshd.log"
at_exit 'kill "$(cat "$T/sshd.pid")" 2>/dev/null || true'
for _ in $(seq $((600 * SLOW))); do ss -ltn | grep "$addr:22 " >/dev/null && break; sleep 0.1; done
echo "$addr $(cut -d' ' -f1-2 "$T/hostkey.pub")" >"$T/kh"
opts=(-k "$KEY" -F /dev/null --known-hosts "$T/kh" -w "$u@$addr")

# --- cold: the aarch64 agent is uploaded and runs ---
rm -rf "$home/.cache/muster"
"$MUSTER" run "${opts[@]}" -v -- 'echo "$(uname -m) hello"; readlink /proc/$PPID/exe' >"$T/out" 2>"$T/err" ||
	fail "cold run failed: $(cat "$T/err")"
assert_contains "$(cat "$T/err")" "agent uploaded" "the agent was uploaded"
assert_contains "$(cat "$T/out")" "$addr: aarch64 hello" "command ran"
want=$(sha256sum <"$a64" | cut -d' ' -f1)
assert_eq "$home/.cache/muster/muster-agent-$want" "$(ls "$home"/.cache/muster/muster-agent-[0-9a-f]*)" \
	"the aarch64 agent, and only it, is on the host"
# The command's parent, the agent, runs under qemu: an aarch64 binary.
grep -Eq "^$addr: .*(qemu-aarch64|aarch64-binfmt)" "$T/out" || fail "the agent does not run under qemu-aarch64: $(cat "$T/out")"
ok "cold start uploads and runs the aarch64 agent"

# --- warm: the start link, no probe, no hash ---
: >"$fake/calls"
"$MUSTER" run "${opts[@]}" -v -- echo warm >"$T/out" 2>"$T/err" || fail "warm run failed: $(cat "$T/err")"
assert_contains "$(cat "$T/err")" "agent cached" "warm run uploads nothing"
assert_eq "$addr: warm" "$(cat "$T/out")" "warm run output"
assert_eq "" "$(cat "$fake/calls")" "the warm start ran uname or sha256sum"
ok "warm start runs the agent through its link, nothing else"

# --- push and pull through the aarch64 agent ---
head -c $((3 << 20)) /dev/urandom >"$T/blob"
sum=$(sha256sum <"$T/blob" | cut -d' ' -f1)
"$MUSTER" push "${opts[@]}" --mkdir "$T/blob" archtest/blob >"$T/out" 2>"$T/err" ||
	fail "push failed: $(cat "$T/err")"
assert_eq "$sum" "$(sha256sum <"$home/archtest/blob" | cut -d' ' -f1)" "pushed content"
"$MUSTER" pull "${opts[@]}" archtest/blob "$T/pulled" >"$T/out" 2>"$T/err" ||
	fail "pull failed: $(cat "$T/err")"
got=$(find "$T/pulled" -type f -name blob)
[[ -n $got ]] || fail "pull wrote no file: $(find "$T/pulled")"
assert_eq "$sum" "$(sha256sum <"$got" | cut -d' ' -f1)" "pulled content"
ok "push and pull through the aarch64 agent"

# --- watch through the aarch64 agent ---
# A long watch, ended once two samples are in: a fixed short window can
# close before an emulated agent on a loaded machine is up.
"$MUSTER" watch "${opts[@]}" --json --interval 0.5 --duration $((120 * SLOW)) >"$T/w" 2>"$T/err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null || true"
start=$SECONDS
until (($(grep -c '"cpu' "$T/w" || true) >= 2)); do
	kill -0 "$wpid" 2>/dev/null || fail "watch ended without samples: $(cat "$T/err")"
	((SECONDS - start < 100 * SLOW)) || fail "no samples within $((100 * SLOW)) s: $(cat "$T/err")"
	sleep 0.2
done
kill "$wpid"
wait "$wpid" 2>/dev/null || true
python3 - "$T/w" <<'PY' || fail "watch gave no samples: $(head -c 500 "$T/w")"
import json, sys
samples = [json.loads(l) for l in open(sys.argv[1]) if l.endswith("\n")]
assert [o for o in samples if "cpu" in json.dumps(o)], "no sample"
PY
ok "watch through the aarch64 agent"

# --- architectures without an agent fail the host, never get another ---
for machine in riscv64 mips64; do
	rm -rf "$home/.cache/muster"
	echo "$machine" >"$fake/machine"
	set +e
	"$MUSTER" run "${opts[@]}" -- true >"$T/out" 2>"$T/err"
	rc=$?
	set -e
	((rc != 0)) || fail "$machine: run succeeded"
	assert_contains "$(cat "$T/err")" "no agent for $machine" "$machine: the reason"
	[[ ! -e $home/.cache/muster ]] || [[ -z $(ls -A "$home/.cache/muster") ]] ||
		fail "$machine: something was uploaded: $(ls -A "$home/.cache/muster")"
done
assert_contains "$(cat "$T/err")" "muster builds agents for x86_64" "unknown architecture: what there is"
echo riscv64 >"$fake/machine"
set +e
"$MUSTER" run "${opts[@]}" -- true >"$T/out" 2>"$T/err"
set -e
assert_contains "$(cat "$T/err")" "no agent for riscv64 (build with -DMUSTER_AGENT_ARCHES=" "known architecture: the build option"
ok "an architecture without an agent fails with what to do"

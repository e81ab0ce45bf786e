#!/usr/bin/env bash
# Odd homes (issue 18 section 4), against real sshd: the home's cache
# mounted noexec, read-only or full, and a home that does not exist. The
# agent runs from the next place that can run it ($XDG_RUNTIME_DIR,
# /dev/shm, /tmp), is uploaded there once and found there on the next run;
# a place someone else owns is refused, and when no place will do, the error
# says what was tried and why each failed. An agent directory the operator
# names (--agent-dir, the inventory's agent_dir=, the config file's
# agent-dir) is the one place: used, or the host fails naming it, where it
# was named and why, with no fall back.
. "$(dirname "$0")/lib.sh"

n=14
u=$(fleet_user $n)
a=$(fleet_addr $n)
home=$(fleet_home $n)
uid=$(id -u "$u")
home0=$home
shm=/dev/shm/muster-$uid
tmpd=/tmp/muster-$uid
cd "$T"
mkdir -p "$home/.cache"
chown "$u:" "$home/.cache"
at_exit "umount '$home/.cache' 2>/dev/null; usermod -d '$home0' '$u'; rm -rf '$shm' '$tmpd'"
rm -rf "$shm" "$tmpd" "$home/.cache/muster"

run() { # run ARGS...: muster run into $T/out, $T/err; status in $st
	st=0
	timeout -s KILL $((60 * SLOW)) "$MUSTER" run "$@" >"$T/out" 2>"$T/err" </dev/null || st=$?
	((st != 137)) || fail "muster never ended: $(tail -n 3 "$T/err")"
}
cache_mount() { # cache_mount OPTIONS [ro]: a fresh tmpfs on ~/.cache, the user's
	umount "$home/.cache" 2>/dev/null || true
	mount -t tmpfs -o "$1" tmpfs "$home/.cache"
	chown "$u:" "$home/.cache"
	chmod 700 "$home/.cache"
	[[ ${2:-} != ro ]] || mount -o remount,ro "$home/.cache"
}
agent_in() { # agent_in DIR: the agent's file there (none: empty)
	find "$1" -maxdepth 1 -name 'muster-agent-[0-9a-f]*' -type f 2>/dev/null | head -n 1
}
twice() { # twice WHAT: cold then warm; the agent lands in $shm once
	rm -rf "$shm" "$tmpd"
	run "${MUSTER_OPTS[@]}" -w "$a" -- echo "cold $1"
	assert_eq 0 "$st" "$1, cold: exit status ($(cat "$T/out" "$T/err"))"
	assert_eq "$a: cold $1" "$(cat "$T/out")" "$1, cold: output"
	f=$(agent_in "$shm")
	[[ -n $f ]] || fail "$1: no agent in $shm: $(ls -la "$shm" 2>&1)"
	assert_eq "700 $u" "$(stat -c '%a %U' "$shm")" "$1: the place is owner-only"
	ino=$(stat -c %i "$f")
	run "${MUSTER_OPTS[@]}" -w "$a" -- echo "warm $1"
	assert_eq 0 "$st" "$1, warm: exit status ($(cat "$T/out" "$T/err"))"
	assert_eq "$a: warm $1" "$(cat "$T/out")" "$1, warm: output"
	assert_eq "$ino" "$(stat -c %i "$f" 2>&1)" "$1: the warm run used the agent uploaded before (no re-upload)"
	ok "home $1: the agent runs from $shm, uploaded once"
}

# --- noexec: the agent there is not even tried twice ----------------------
cache_mount noexec,size=16m
twice noexec

# --- read-only ------------------------------------------------------------
cache_mount size=16m ro
twice read-only

# --- full: 64 KB, filled ---------------------------------------------------
cache_mount size=64k
dd if=/dev/zero of="$home/.cache/fill" bs=4k 2>/dev/null || true
twice full

# --- a place someone else made is not used; none left: say why -------------
cache_mount size=16m ro
rm -rf "$shm" "$tmpd"
mkdir -m 777 "$shm"
mkdir -m 700 "$tmpd"
chown nobody: "$tmpd"
run "${MUSTER_OPTS[@]}" -w "$a" -- echo hi
assert_eq 3 "$st" "no place: exit status ($(cat "$T/out" "$T/err"))"
all=$(cat "$T/out" "$T/err")
assert_contains "$all" "nowhere to put the agent" "says it found no place"
assert_contains "$all" "$home/.cache/muster: read-only" "the home's cache: read-only"
assert_contains "$all" "$shm: not owner-only" "a world-writable $shm is refused"
assert_contains "$all" "$tmpd: not owner-only" "$tmpd owned by nobody is refused"
[[ -z $(agent_in "$shm") && -z $(agent_in "$tmpd") ]] || fail "an agent landed in a place that is not the user's"
echo "# $(grep -h "^$a: " "$T/out" "$T/err")"
ok "no usable place: the error names each place and why"
rm -rf "$shm" "$tmpd"
umount "$home/.cache"

# --- --agent-dir: the agent there, and only there -------------------------
rm -rf "$shm" "$tmpd" "$home/.cache/muster" "$home/m-agents"
run "${MUSTER_OPTS[@]}" --agent-dir '~/m-agents' -w "$a" -v -- echo named
assert_eq 0 "$st" "--agent-dir, cold: exit status ($(cat "$T/out" "$T/err"))"
assert_eq "$a: named" "$(cat "$T/out")" "--agent-dir, cold: output"
f=$(agent_in "$home/m-agents")
[[ -n $f ]] || fail "--agent-dir: no agent in $home/m-agents: $(ls -la "$home/m-agents" 2>&1)"
assert_eq "700 $u" "$(stat -c '%a %U' "$home/m-agents")" "--agent-dir: made owner-only"
[[ -z $(agent_in "$home/.cache/muster") && -z $(agent_in "$shm") && -z $(agent_in "$tmpd") ]] ||
	fail "--agent-dir: an agent landed elsewhere too"
# Every directory up to / is the user's or root's alone: the start link.
[[ -L $(echo "$home"/m-agents/muster-agent-set-*) ]] || fail "--agent-dir: no start link in $home/m-agents"
ino=$(stat -c %i "$f")
run "${MUSTER_OPTS[@]}" --agent-dir '~/m-agents' -w "$a" -v -- echo again
assert_eq 0 "$st" "--agent-dir, warm: exit status ($(cat "$T/out" "$T/err"))"
assert_contains "$(cat "$T/err")" "agent cached" "--agent-dir, warm: nothing uploaded"
assert_eq "$ino" "$(stat -c %i "$f")" "--agent-dir, warm: the same agent"
ok "--agent-dir ~/m-agents: the agent runs from there, uploaded once, linked"

# --- agent_dir= from an inventory group, on a noexec mount: fails, named --
mkdir -p "$home/nx"
mount -t tmpfs -o noexec,size=16m tmpfs "$home/nx"
at_exit "umount '$home/nx' 2>/dev/null || true"
chown "$u:" "$home/nx"
chmod 700 "$home/nx"
printf '[odd]\n%s user=%s\n[odd:vars]\nagent_dir=~/nx\n' "$a" "$u" >"$T/inv"
rm -rf "$shm" "$tmpd" "$home/.cache/muster"
# The inventory's agent_dir is about the host: it wins over --agent-dir.
run -i "$T/inv" --known-hosts "$KH" -k "$KEY" -F /dev/null --agent-dir '~/m-agents' -w "$a" -- echo hi
assert_eq 3 "$st" "agent_dir on noexec: exit status ($(cat "$T/out" "$T/err"))"
all=$(cat "$T/out" "$T/err")
assert_contains "$all" "the agent directory ~/nx ($T/inv:4 (agent_dir)) cannot run the agent: $home/nx: noexec" \
	"names the directory, where it was named and why"
assert_contains "$all" "no other place is tried" "says there is no fall back"
[[ -z $(agent_in "$home/nx") && -z $(agent_in "$home/.cache/muster") && -z $(agent_in "$shm") &&
	-z $(agent_in "$tmpd") ]] || fail "agent_dir on noexec: an agent was uploaded somewhere"
echo "# $(grep -h "^$a: " "$T/out" "$T/err")"
ok "inventory agent_dir= on a noexec mount: the host fails naming it, no fall back"
umount "$home/nx"

# --- agent-dir in the config file; a place the user cannot make ----------
printf 'agent-dir = /muster-no-such-root-dir/agents\n' >"$T/config"
run "${MUSTER_OPTS[@]}" --config "$T/config" -w "$a" -- echo hi
assert_eq 3 "$st" "config agent-dir: exit status ($(cat "$T/out" "$T/err"))"
assert_contains "$(cat "$T/out" "$T/err")" \
	"the agent directory /muster-no-such-root-dir/agents (agent-dir in the config file) cannot run the agent: /muster-no-such-root-dir/agents: " \
	"names the directory and the config file"
ok "agent-dir in the config file: used, and its failure named"

# --- a name no shell may see: refused before any host is contacted -------
run "${MUSTER_OPTS[@]}" --agent-dir 'agents' -w "$a" -- echo hi
assert_eq 2 "$st" "--agent-dir relative: exit status"
assert_contains "$(cat "$T/err")" "--agent-dir: 'agents': not an absolute path" "relative path refused"
printf '%s user=%s agent_dir="/tmp/x;touch${IFS}/tmp/pwned"\n' "$a" "$u" >"$T/inv"
run -i "$T/inv" --known-hosts "$KH" -k "$KEY" -F /dev/null -w "$a" -- echo hi
assert_eq 2 "$st" "agent_dir with ';': exit status ($(cat "$T/err"))"
assert_contains "$(cat "$T/err")" "$T/inv:1" "the inventory's line is named"
assert_contains "$(cat "$T/err")" "bad agent_dir" "the variable is named"
ok "an agent directory with shell characters is refused at the inventory's line"

# --- a home that does not exist (keys from outside the home) ---------------
addr=$FLEET_NET.234 # outside the fleet
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey"
install -m 644 "$home/.ssh/authorized_keys" "$T/ak"
{
	sshd_base_config "$addr" "$u" | sed "s|^AuthorizedKeysFile.*|AuthorizedKeysFile $T/ak|"
	echo "StrictModes no"
	echo "Subsystem sftp internal-sftp"
} >"$T/sshd_config"
chmod 755 "$T"
/usr/sbin/sshd -f "$T/sshd_config" -E "$T/sshd.log" || fail "sshd did not start: $(tail -n 3 "$T/sshd.log")"
at_exit 'kill "$(cat "$T/sshd.pid")" 2>/dev/null || true'
for _ in $(seq $((600 * SLOW))); do ss -ltn | grep "$addr:22 " >/dev/null && break; sleep 0.1; done
echo "$addr $(cut -d' ' -f1-2 "$T/hostkey.pub")" >"$T/kh"
usermod -d /nonexistent-muster-home "$u"
own=(-k "$KEY" -F /dev/null --known-hosts "$T/kh")
rm -rf "$shm" "$tmpd"
run "${own[@]}" -w "$u@$addr" -- echo no home
assert_eq 0 "$st" "missing home: exit status ($(cat "$T/out" "$T/err"))"
assert_eq "$addr: no home" "$(cat "$T/out")" "missing home: output"
[[ -n $(agent_in "$shm") ]] || fail "missing home: no agent in $shm"
ok "a home that does not exist: the agent runs from $shm"

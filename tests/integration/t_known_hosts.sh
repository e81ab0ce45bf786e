#!/usr/bin/env bash
# A known_hosts that libssh would read short, or not at all, is an error
# for every host (exit 3, naming the file and why), never an empty file:
# with --accept-new a host whose recorded key differs must not run, and
# nothing is appended. A FIFO as --known-hosts or -F ends the run at once.
. "$(dirname "$0")/lib.sh"

h1="$(fleet_user 1)@$(fleet_addr 1)"
home1=$(fleet_home 1)
opts=(-k "$KEY" -F /dev/null)
# Host 1's name with host 2's key: OpenSSH says the identification changed.
key1=$(grep "^$(fleet_addr 1) " "$KH" | cut -d' ' -f2-)
key2=$(grep "^$(fleet_addr 2) " "$KH" | cut -d' ' -f2-)
wrong="$(fleet_addr 1) $key2"

# What a known_hosts holds (a directory: its entries).
digest() {
	if [[ -d $1 ]]; then ls -A -- "$1"; else sha256sum <"$1"; fi
}

# refused NAME FILE WANT-RC WANT-MSG [muster args...]: a run with
# --accept-new that touches a marker must end with WANT-RC and WANT-MSG,
# run nothing on host 1, and leave FILE as it was.
refused() {
	local name=$1 file=$2 want_rc=$3 want_msg=$4 before after rc
	shift 4
	rm -f -- "$home1/ran-$name"
	before=$(digest "$file")
	set +e
	timeout -k 5 20 "$MUSTER" run "$@" --accept-new -w "$h1" --json -- \
		touch "ran-$name" >"$T/j" 2>"$T/err" </dev/null
	rc=$?
	set -e
	after=$(digest "$file")
	[[ -e $home1/ran-$name ]] && fail "$name: the command ran on host 1"
	assert_eq "$want_rc" "$rc" "$name: exit status ($(cat "$T/err" "$T/j"))"
	assert_contains "$(cat "$T/err" "$T/j")" "$want_msg" "$name: message"
	assert_eq "$before" "$after" "$name: $file changed"
}

# (a) Over 16 MiB: lines for other hosts, host 1's wrong key before and
# after them. libssh skips the whole file; the host looked new.
line="10.99.0.1 $key2"
{
	echo "$wrong"
	# yes ends on SIGPIPE once head has its lines.
	yes "$line" | head -n $((17 * 1024 * 1024 / (${#line} + 1) + 1)) || true
	echo "$wrong"
} >"$T/big"
refused big "$T/big" 3 "known_hosts $T/big: larger than 16 MiB" \
	"${opts[@]}" --known-hosts "$T/big"
ok "known_hosts over 16 MiB: exit 3, nothing run, nothing appended"

# The same file named by the ssh_config (UserKnownHostsFile), which only
# the per-host check sees.
printf 'Host *\n  UserKnownHostsFile %s\n' "$T/big" >"$T/uk.cfg"
refused big-cfg "$T/big" 3 "known_hosts $T/big: larger than 16 MiB" \
	-k "$KEY" -F "$T/uk.cfg"
assert_contains "$(cat "$T/j")" '"status":"hostkey"' "per-host status"
ok "known_hosts from ssh_config over 16 MiB: host refused"

# keys install goes through the same check.
before=$(sha256sum <"$T/big")
set +e
timeout -k 5 20 "$MUSTER" keys install "${opts[@]}" --known-hosts "$T/big" \
	--accept-new -w "$h1" >"$T/out" 2>"$T/err" </dev/null
rc=$?
set -e
assert_eq 3 "$rc" "keys install with a big known_hosts ($(cat "$T/err" "$T/out"))"
assert_contains "$(cat "$T/err")" "larger than 16 MiB" "keys install message"
assert_eq "$before" "$(sha256sum <"$T/big")" "keys install appended to $T/big"
ok "keys install refuses a known_hosts over 16 MiB"
rm -f "$T/big"

# A line longer than libssh's buffer ends its reading there.
{ printf '# %09000d\n' 0; echo "$wrong"; } >"$T/long"
refused long "$T/long" 3 "known_hosts $T/long: line 1 is longer than 8190 bytes" \
	"${opts[@]}" --known-hosts "$T/long"
ok "known_hosts with an overlong line: refused"

# An entry for the host that libssh cannot parse made it "unknown".
echo "$(fleet_addr 1) ssh-ed25519 AAAAdamaged" >"$T/damaged"
refused damaged "$T/damaged" 3 "cannot parse the entry for this host" \
	"${opts[@]}" --known-hosts "$T/damaged"
ok "known_hosts with a damaged entry for the host: refused"

# libssh ignores @revoked lines: the revoked key would be taken as new.
echo "@revoked * $key1" >"$T/revoked"
refused revoked "$T/revoked" 3 "line 1 is a @revoked line" \
	"${opts[@]}" --known-hosts "$T/revoked"
ok "known_hosts with a @revoked line: refused"

# (b) A directory.
mkdir "$T/khdir"
refused dir "$T/khdir" 3 "known_hosts $T/khdir: is a directory" \
	"${opts[@]}" --known-hosts "$T/khdir"
set +e
"$MUSTER" run "${opts[@]}" --known-hosts "$T/khdir" -w "$h1" -- true 2>"$T/err"
rc=$?
set -e
assert_eq 3 "$rc" "directory without --accept-new"
assert_contains "$(cat "$T/err")" "known_hosts $T/khdir: is a directory" "message"
ok "known_hosts that is a directory: exit 3"

# The daemon refuses to start on one (and the CLI's check is its own).
mkdir -m 700 "$T/d"
at_exit 'MUSTER_DAEMON_SOCKET="$T/d/daemon.sock" "$MUSTER" daemon --stop >/dev/null 2>&1'
set +e
MUSTER_DAEMON_SOCKET=$T/d/daemon.sock timeout -k 5 20 "$MUSTER" daemon \
	"${opts[@]}" --known-hosts "$T/khdir" -w "$h1" >"$T/out" 2>"$T/err" </dev/null
rc=$?
set -e
assert_eq 3 "$rc" "daemon on a directory ($(cat "$T/err" "$T/out"))"
assert_contains "$(cat "$T/err")" "known_hosts $T/khdir: is a directory" "daemon message"
ok "the daemon refuses a known_hosts that is a directory"

# (c) FIFOs: nobody writes to them; opening one blocking hung the loop
# with SIGTERM unanswered, hence timeout's -k.
mkfifo "$T/fifo"
set +e
timeout -k 5 20 "$MUSTER" run "${opts[@]}" --known-hosts "$T/fifo" -w "$h1" -- true 2>"$T/err"
rc=$?
set -e
assert_eq 3 "$rc" "--known-hosts FIFO ($(cat "$T/err"))"
assert_contains "$(cat "$T/err")" "known_hosts $T/fifo: is a FIFO, not a regular file" "message"
set +e
timeout -k 5 20 "$MUSTER" run -k "$KEY" -F "$T/fifo" --known-hosts "$KH" -w "$h1" -- true 2>"$T/err"
rc=$?
set -e
assert_eq 2 "$rc" "-F FIFO ($(cat "$T/err"))"
assert_contains "$(cat "$T/err")" "ssh_config $T/fifo: is a FIFO, not a regular file" "message"
ok "a FIFO as --known-hosts or -F ends the run at once"

# /dev/null stays what it was: an empty known_hosts, no ssh_config.
set +e
"$MUSTER" run "${opts[@]}" --known-hosts /dev/null -w "$h1" --json -- true >"$T/j" 2>"$T/err"
rc=$?
set -e
assert_eq 3 "$rc" "--known-hosts /dev/null"
assert_contains "$(cat "$T/j")" "unknown host key" "/dev/null is empty"
ok "/dev/null is an empty known_hosts"

# (d) A readable file with another key for the host: refused, unchanged.
echo "$wrong" >"$T/changed"
refused changed "$T/changed" 3 "HOST KEY CHANGED" "${opts[@]}" --known-hosts "$T/changed"
ok "a changed key is refused with --accept-new, nothing appended"

# A file we may write but not read (mode 0200). root reads it anyway, so
# the controller runs as nobody, with its own copy of the key.
if ((EUID == 0)) && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	U=$(mktemp -d /tmp/muster-kh-nobody.XXXXXX)
	at_exit "rm -rf -- '$U'"
	chmod 755 "$U"
	cp "$KEY" "$U/key"
	echo "$wrong" >"$U/kh"
	chown nobody "$U" "$U/key" "$U/kh"
	chmod 600 "$U/key"
	chmod 200 "$U/kh"
	rm -f -- "$home1/ran-perm"
	before=$(sha256sum <"$U/kh")
	set +e
	timeout -k 5 20 setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- \
		env -u XDG_CONFIG_HOME -u XDG_CACHE_HOME HOME="$U" MUSTER_DAEMON_SOCKET="$U/no.sock" MUSTER_AGENT="$BUILD_DIR/bin/muster-agent" \
		"$MUSTER" run -k "$U/key" -F /dev/null --known-hosts "$U/kh" --accept-new \
		-w "$h1" -- touch ran-perm >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	set -e
	[[ -e $home1/ran-perm ]] && fail "perm: the command ran on host 1"
	assert_eq 3 "$rc" "unreadable known_hosts ($(cat "$T/err"))"
	assert_contains "$(cat "$T/err")" "known_hosts $U/kh: cannot read: Permission denied" "message"
	assert_eq "$before" "$(sha256sum <"$U/kh")" "perm: $U/kh changed"
	ok "an unreadable known_hosts: exit 3, nothing run, nothing appended"
else
	echo "skip - unreadable known_hosts (needs root and setpriv)"
fi

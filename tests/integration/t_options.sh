#!/usr/bin/env bash
# The options users bring from clush, pdsh and pssh (-l, -o, -S, -u, -B)
# and muster's config file, against the real fleet.
. "$(dirname "$0")/lib.sh"

a1=$(fleet_addr 1) a2=$(fleet_addr 2) a3=$(fleet_addr 3)
u1=$(fleet_user 1) u3=$(fleet_user 3)
# The fleet's connection settings without the inventory: the hosts then
# name no user of their own.
BARE=(--known-hosts "$KH" -k "$KEY" -F /dev/null)

# --- -l USER ---------------------------------------------------------------------
out=$("$MUSTER" run "${BARE[@]}" -l "$u3" -w "$a3" -- id -un)
assert_eq "$a3: $u3" "$out" "-l gives the login name"
# user@host and the inventory's user= come before -l.
out=$("$MUSTER" run "${BARE[@]}" -l nobody-here -w "$u1@$a1" -- id -un)
assert_eq "$a1: $u1" "$out" "user@host over -l"
out=$("$MUSTER" run "${MUSTER_OPTS[@]}" -l nobody-here -w "$a1" -- id -un)
assert_eq "$a1: $u1" "$out" "inventory user= over -l"
set +e
"$MUSTER" run "${BARE[@]}" -l 'a b' -w "$a1" -- true 2>"$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "-l with a blank is a usage error"
ok "-l USER"

# --- -o OPTION=VALUE ---------------------------------------------------------------
out=$("$MUSTER" run "${BARE[@]}" -o "User=$u3" -w "$a3" -- id -un)
assert_eq "$a3: $u3" "$out" "-o User= is applied"
out=$("$MUSTER" run "${BARE[@]}" -o "user $u3" -o Compression=yes -w "$a3" -- id -un)
assert_eq "$a3: $u3" "$out" "-o 'name value', any case, repeatable"
# Applied for real: a port nobody listens on makes the host unreachable.
set +e
"$MUSTER" run "${BARE[@]}" --connect-timeout 3 -o Port=1 -w "$u1@$a1" -- true >/dev/null 2>"$T/err"; rc=$?
set -e
assert_eq 3 "$rc" "-o Port=1: unreachable"
# Refused by name: muster's own options say it, or libssh cannot.
for bad in StrictHostKeyChecking=no IdentityFile=/x ProxyCommand=nc NoSuchOption=1 Ciphers=rot13-cbc; do
	set +e
	"$MUSTER" run "${BARE[@]}" -o "$bad" -w "$a1" -- true >/dev/null 2>"$T/err"; rc=$?
	set -e
	assert_eq 2 "$rc" "-o $bad is a usage error"
	assert_contains "$(cat "$T/err")" "-o ${bad%%=*}" "-o $bad: the error names the option"
done
assert_contains "$("$MUSTER" run "${BARE[@]}" -o StrictHostKeyChecking=no -w "$a1" -- true 2>&1 || true)" \
	"--accept-new" "StrictHostKeyChecking: says what to use instead"
ok "-o OPTION=VALUE"

# --- -S: the largest exit code ---------------------------------------------------
cmd="case \$USER in $u1) exit 3;; $u3) exit 7;; esac; exit 0"
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$a1,$a2,$a3" -- "$cmd" >/dev/null 2>&1; rc=$?
"$MUSTER" run "${MUSTER_OPTS[@]}" -S -w "$a1,$a2,$a3" -- "$cmd" >/dev/null 2>&1; rc_s=$?
"$MUSTER" run "${MUSTER_OPTS[@]}" -S -w "$a1,$a2" -- true >/dev/null 2>&1; rc_ok=$?
set -e
assert_eq 1 "$rc" "without -S: 1"
assert_eq 7 "$rc_s" "-S: the largest remote exit code"
assert_eq 0 "$rc_ok" "-S, all ok: 0"
ok "-S"

# --- -u: the command timeout, as -t ----------------------------------------------
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -u 1 -w "$a1" -- sleep 30 >/dev/null 2>"$T/err"; rc=$?
set -e
assert_eq 1 "$rc" "-u 1: the command timed out"
assert_contains "$(cat "$T/err")" "timed out after 1 s" "-u is the command timeout"
ok "-u SECONDS"

# --- -B: stderr gathered with stdout; -b keeps it apart ---------------------------
# (How one host's two pipes interleave is the kernel's business: only
# where the lines go is checked.)
"$MUSTER" run "${MUSTER_OPTS[@]}" -B -w "$a1,$a2" -- 'echo err >&2' >"$T/out" 2>"$T/err"
assert_eq 1 "$(grep -cx 'err' "$T/out")" "-B: stderr gathered on stdout, once for both hosts"
"$MUSTER" run "${MUSTER_OPTS[@]}" -B -w "$a1,$a2" -- 'echo out; echo err >&2' >"$T/out" 2>"$T/err"
grep -qx out "$T/out" && grep -qx err "$T/out" || fail "-B: stdout and stderr both on stdout"
"$MUSTER" run "${MUSTER_OPTS[@]}" -b -w "$a1,$a2" -- 'echo out; echo err >&2' >"$T/out" 2>"$T/err"
grep -qx err "$T/out" && fail "-b: stderr went to stdout"
ok "-B"

# -b, as clush: stderr keeps its host label; one host's header is its name.
grep -qx "$a1: err" "$T/err" && grep -qx "$a2: err" "$T/err" || fail "-b: stderr lines not labelled: $(cat "$T/err")"
"$MUSTER" run "${MUSTER_OPTS[@]}" -b -w "$a1" -- 'echo one' >"$T/out" 2>/dev/null
assert_eq "$(printf -- '---------------\n%s\n---------------\none' "$a1")" "$(cat "$T/out")" "-b: a single host's header is its name"
ok "-b: labelled stderr, single-host header"

# --- the config file -----------------------------------------------------------------
conf=$XDG_CONFIG_HOME/muster/config
mkdir -p "$(dirname "$conf")"
cat >"$conf" <<CFG
# what the tests otherwise say on every command line
inventory = $INV
known-hosts $KH
identity = "$KEY"
ssh-config = /dev/null

[run]
timeout = 1
CFG
out=$("$MUSTER" run -w "$a2" -- id -un)
assert_eq "$a2: $(fleet_user 2)" "$out" "inventory, key, known_hosts from ~/.config/muster/config"
set +e
"$MUSTER" run -w "$a2" -- sleep 30 >/dev/null 2>"$T/err"; rc=$?
set -e
assert_eq 1 "$rc" "[run] timeout applies to run"
assert_contains "$(cat "$T/err")" "timed out after 1 s" "[run] timeout"
"$MUSTER" run -t 60 -w "$a2" -- 'sleep 2; echo done' >"$T/out" || fail "-t on the command line over the file's timeout"
assert_eq "$a2: done" "$(cat "$T/out")" "command line over config"
# A list on the command line replaces the file's.
printf 'hosts = %s\n' "$a1" >>"$conf"
out=$("$MUSTER" run -w "$a3" -- id -un)
assert_eq "$a3: $u3" "$out" "-w on the command line replaces the file's hosts"
out=$("$MUSTER" run -- id -un)
assert_eq "$a1: $u1" "$out" "the file's hosts when the command line has none"
ok "config file: defaults, sections, command line over it"

# --config FILE and $MUSTER_CONFIG instead of the user's file.
printf 'inventory = %s\nknown-hosts = %s\nidentity = %s\nssh-config = /dev/null\nlogin = %s\n' \
	"/nonexistent" "$KH" "$KEY" "$u3" >"$T/other.conf"
out=$("$MUSTER" run --config "$T/other.conf" -i "$INV" -w "$a3" -- id -un)
assert_eq "$a3: $u3" "$out" "--config FILE"
out=$(MUSTER_CONFIG=$T/other.conf "$MUSTER" run -i "$INV" -w "$a3" -- id -un)
assert_eq "$a3: $u3" "$out" "\$MUSTER_CONFIG"
set +e
"$MUSTER" run --config "$T/missing.conf" -w "$a3" -- true 2>"$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "a named config file that is missing"
assert_contains "$(cat "$T/err")" "$T/missing.conf" "missing config named"
ok "--config and MUSTER_CONFIG"

# Off switches: what the config file turns on, the command line turns off.
printf 'json\nmax-exit\nknown-hosts = %s\nidentity = %s\nssh-config = /dev/null\n' "$KH" "$KEY" >"$T/flags.conf"
out=$("$MUSTER" run --config "$T/flags.conf" -w "$u3@$a3" -- echo hi)
assert_contains "$out" '"status":"ok"' "json from the config file"
out=$("$MUSTER" run --config "$T/flags.conf" --no-json -w "$u3@$a3" -- echo hi)
assert_eq "$a3: hi" "$out" "--no-json undoes the config file's json "
printf 'gather\nknown-hosts = %s\nidentity = %s\nssh-config = /dev/null\n' "$KH" "$KEY" >"$T/gather.conf"
out=$("$MUSTER" run --config "$T/gather.conf" -w "$u3@$a3" -- echo hi)
assert_contains "$out" "----" "gather from the config file"
out=$("$MUSTER" run --config "$T/gather.conf" --no-gather -w "$u3@$a3" -- echo hi)
assert_eq "$a3: hi" "$out" "--no-gather undoes it"
set +e
"$MUSTER" run --config "$T/flags.conf" --no-json -w "$u3@$a3" -- 'exit 7' >/dev/null 2>&1; rc=$?
"$MUSTER" run --config "$T/flags.conf" --no-json --no-max-exit -w "$u3@$a3" -- 'exit 7' >/dev/null 2>&1; rc2=$?
set -e
assert_eq "7 1" "$rc $rc2" "max-exit from the config file, --no-max-exit undoes it"
grep -v "^$a3 " "$KH" >"$T/kh_no3"
cp "$T/kh_no3" "$T/kh_no3.before"
printf 'accept-new\nknown-hosts = %s\nidentity = %s\nssh-config = /dev/null\n' "$T/kh_no3" "$KEY" >"$T/accept.conf"
set +e
"$MUSTER" run --config "$T/accept.conf" --no-accept-new -w "$u3@$a3" -- true >"$T/out" 2>"$T/err"; rc=$?
set -e
assert_eq 3 "$rc" "--no-accept-new: an unknown host key is refused"
assert_file_eq "$T/kh_no3.before" "$T/kh_no3" "--no-accept-new: nothing recorded"
"$MUSTER" run --config "$T/accept.conf" -w "$u3@$a3" -- true >/dev/null 2>&1 || fail "accept-new from the config file did not record the key"
grep -q "^$a3 " "$T/kh_no3" || fail "accept-new from the config file: key not recorded"
assert_contains "$("$MUSTER" run --help)" "--no-accept-new" "run --help lists the off switches"
set +e
"$MUSTER" watch --no-diff -w "$a3" 2>"$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "an off switch of an option the subcommand does not take is refused"
assert_contains "$(cat "$T/err")" "--no-diff is not an option of watch" "named as given"
ok "off switches (--no-json, --no-gather, --no-max-exit, --no-accept-new) undo the config file"

# Bad lines: each an error naming FILE:LINE, nothing run.
check_bad() {	# LINE-CONTENT LINE-NO EXPECTED-TEXT
	printf 'known-hosts = %s\n%s\n' "$KH" "$1" >"$T/bad.conf"
	set +e
	"$MUSTER" run --config "$T/bad.conf" -i "$INV" -k "$KEY" -F /dev/null -w "$a1" -- touch "$T/ran" >/dev/null 2>"$T/err"
	rc=$?
	set -e
	assert_eq 2 "$rc" "bad config line '$1': usage error"
	assert_contains "$(cat "$T/err")" "$T/bad.conf:$2: " "bad config line '$1': FILE:LINE"
	assert_contains "$(cat "$T/err")" "$3" "bad config line '$1': says why"
}
check_bad 'no-such-option = 1' 2 "unknown option 'no-such-option'"
check_bad 'fanout = lots' 2 "--fanout: expected a number"
check_bad 'timeout' 2 "needs a value"
check_bad 'accept-new = maybe' 2 "is a flag"
check_bad '[nosuch]' 2 "no subcommand 'nosuch'"
check_bad "$(printf '[push]\ntimeout = 3')" 3 "muster push has no --timeout"
check_bad 'config = /x' 2 "cannot be set in a config file"
check_bad 'ssh-option = StrictHostKeyChecking=no' 2 "-o StrictHostKeyChecking"
[ ! -e "$T/ran" ] || fail "a command ran despite a bad config file"
ok "bad config lines name FILE:LINE"

mkfifo "$T/fifo.conf"
set +e
timeout 10 "$MUSTER" run --config "$T/fifo.conf" -w "$a1" -- true 2>"$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "a FIFO as config file is refused, not waited on"
ok "config FIFO refused"

# --- muster version -------------------------------------------------------------------
out=$("$MUSTER" version)
assert_contains "$out" "protocol " "version: the protocol"
assert_contains "$out" "agent build " "version: the agent build"
assert_contains "$out" "$(uname -m)" "version: the machine the agent is for"
[[ $("$MUSTER" --version) == "$out" ]] || fail "--version differs from version"
set +e
MUSTER_AGENT=$T/no-agent "$MUSTER" version >"$T/out"; rc=$?
set -e
assert_eq 4 "$rc" "version without an agent"
assert_contains "$(cat "$T/out")" "agent: none" "version says the agent is missing"
ok "muster version"

# --- JSON: the command in its own fields --------------------------------------------
"$MUSTER" run "${MUSTER_OPTS[@]}" --json -w "$a1" -c 'echo a' -c 'echo b' >"$T/out"
python3 - "$T/out" "$a1" <<'PY' || fail "--json with two commands: $(cat "$T/out")"
import json, sys
objs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda o: o["command_index"])
assert [o["host"] for o in objs] == [sys.argv[2]] * 2, objs
assert [(o["command_index"], o["command"], o["stdout"]) for o in objs] == [(1, "echo a", "a\n"), (2, "echo b", "b\n")], objs
PY
ok "--json: host, command and command_index"

# --- run -b on a terminal: a progress line meanwhile, gone before the output -----
if command -v script >/dev/null; then
	MUSTER_OPTS_STR=$(printf '%q ' "${MUSTER_OPTS[@]}")
	script -qec "$MUSTER run $MUSTER_OPTS_STR -b -w $a1,$a2 -- 'echo hi'" /dev/null </dev/null >"$T/tty" || true
	assert_contains "$(cat "$T/tty")" "2 done, " "-b on a terminal: a progress line"
	assert_contains "$(cat "$T/tty")" $'\r\033[K---------------' "-b: the progress line is cleared before the output"
	"$MUSTER" run "${MUSTER_OPTS[@]}" -b -w "$a1" -- 'echo hi' >/dev/null 2>"$T/err"
	grep -q 'done, ' "$T/err" && fail "-b: a progress line when stderr is not a terminal"
	ok "run -b progress line on a terminal"
fi

#!/usr/bin/env bash
# Output is never lost silently and never stalls the loop: a stdout that
# fails (a full device, closed, a closed pipe with SIGPIPE ignored) ends
# the run with exit 4 and the reason; a reader that stalls slows the
# output, not the connections; -b past --max-total-output still folds.
. "$(dirname "$0")/lib.sh"

h1="$(fleet_user 1)@$(fleet_addr 1)"
n=$((FLEET_N < 20 ? FLEET_N : 20))
all=""
for i in $(seq 1 "$n"); do
	all+="${all:+,}$(fleet_user "$i")@$(fleet_addr "$i")"
done

# expect_lost STATUS ERRFILE WHY: the run said why and exited 4.
expect_lost() {
	assert_eq 4 "$1" "$3: exit status"
	assert_contains "$(cat "$2")" "$4" "$3: the reason on stderr"
}

# stdout on /dev/full: every mode of run, pull --json and watch --json.
for mode in "" -b --json -L --diff; do
	rc=0
	"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" $mode -- echo hi >/dev/full 2>"$T/err" || rc=$?
	expect_lost "$rc" "$T/err" "run ${mode:-(lines)} >/dev/full" "muster: stdout: No space left on device"
done
rc=0
"$MUSTER" pull "${MUSTER_OPTS[@]}" -w "$h1" --json /etc/hostname "$T/pulled" >/dev/full 2>"$T/err" || rc=$?
expect_lost "$rc" "$T/err" "pull --json >/dev/full" "muster: stdout: No space left on device"
rc=0
timeout $((60 * SLOW)) "$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$h1" --json --interval 1 --duration 30 \
	>/dev/full 2>"$T/err" || rc=$?
expect_lost "$rc" "$T/err" "watch --json >/dev/full (ends before --duration)" "muster: stdout: No space left on device"
ok "stdout on a full device: exit 4 with the reason (run, pull, watch)"

# stdout closed: the descriptor is not reused for a socket, and the
# first write fails.
rc=0
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" -- echo hi >&- 2>"$T/err" || rc=$?
expect_lost "$rc" "$T/err" "run >&-" "muster: stdout: Bad file descriptor"
ok "stdout closed: exit 4 with the reason"

# An --outdir file that cannot be written: that host's output is lost,
# so its command is cancelled (it would sleep a minute), the other host's
# file is complete, and the run exits 4. The timeout only bounds a
# failure.
mkdir "$T/o"
ln -s "$T/victim" "$T/o/$(fleet_addr 1)"
rc=0
timeout $((40 * SLOW)) "$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1,$(fleet_user 2)@$(fleet_addr 2)" \
	--outdir "$T/o" -- 'seq 3; if [ "$USER" = '"$(fleet_user 1)"' ]; then sleep 60; fi' \
	>/dev/null 2>"$T/err" || rc=$?
expect_lost "$rc" "$T/err" "--outdir file refused" "cancelling its command"
[ ! -e "$T/victim" ] || fail "--outdir followed a symlink"
seq 3 >"$T/want"
assert_file_eq "$T/want" "$T/o/$(fleet_addr 2)" "the other host's file"
ok "an --outdir file that fails cancels its command, exit 4"

# SIGPIPE ignored (CI runners, Python's subprocess) and the reader gone:
# the run is cancelled at the first failed write instead of streaming
# 20 MB per host into nothing and saying "ok". The timeout only bounds
# a failure.
(
	trap '' PIPE
	rc=0
	timeout $((120 * SLOW)) "$MUSTER" run "${MUSTER_OPTS[@]}" -w "$all" -- \
		'yes | head -c 20000000' 2>"$T/err" || rc=$?
	echo "$rc" >"$T/rc"
) | head -c 10 >/dev/null
rc=$(cat "$T/rc")
expect_lost "$rc" "$T/err" "closed pipe, SIGPIPE ignored" "muster: stdout: Broken pipe"
assert_contains "$(cat "$T/err")" "cancelling" "the remote work is cancelled"
grep -q " $n ok," "$T/err" && fail "every host reported ok after the output was lost"
ok "closed pipe with SIGPIPE ignored: cancelled, exit 4"

# A reader that stalls for longer than the connect timeout, on stdout and
# stderr both (2>&1): hosts still setting up must not time out, every
# host ends ok and every line arrives. Before, the loop blocked in
# write(1) or write(2) and hosts in the SSH handshake failed as
# unreachable. The connect timeout is wide enough for 20 handshakes on a
# loaded 2-core machine under ASan (3 s was not, once), and the stall is
# twice as long.
per=$(vg_pick 400000 40000) errl=$(vg_pick 20000 2000)
{
	rc=0
	"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$all" --connect-timeout $((5 * SLOW)) -- \
		"yes | head -c $per; yes err | head -n $errl >&2" 2>&1 || rc=$?
	echo "$rc" >"$T/rc"
} | {
	sleep $((10 * SLOW))
	cat >"$T/both"
}
assert_eq 0 "$(cat "$T/rc")" "stalled reader: exit status ($(tail -n 3 "$T/both"))"
assert_contains "$(tail -n 1 "$T/both")" "$n hosts: $n ok," "stalled reader: every host ok"
assert_eq $((n * per / 2)) "$(grep -c ': y$' "$T/both")" "stalled reader: every stdout line"
assert_eq $((n * errl)) "$(grep -c ': err$' "$T/both")" "stalled reader: every stderr line"
ok "a reader stalled past the connect timeout (2>&1): $n of $n ok"

# -b past --max-total-output: identical outputs are cut at the same byte
# (an equal share per host) and fold into one block, printed once.
per=$((1024 * 1024)) cap=$((4 * 1024 * 1024))
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$all" -b --max-total-output "$cap" \
	-- "head -c $per /dev/zero | tr '\\0' x" >"$T/out" 2>"$T/err" ||
	fail "capped gather run failed: $(cat "$T/err")"
assert_eq 1 "$(grep -c '^---------------$' "$T/out" | awk '{print $1 / 2}')" "one block"
grep -q "($n) \[stdout truncated\]$" "$T/out" || fail "no single folded, truncated block: $(grep -v '^x' "$T/out" | head)"
assert_eq $((cap / n)) "$(grep '^x' "$T/out" | tr -d '\n' | wc -c)" "the block holds one share"
assert_contains "$(cat "$T/err")" "--max-total-output" "stderr names the cap"
ok "-b past --max-total-output folds identical outputs into one block"

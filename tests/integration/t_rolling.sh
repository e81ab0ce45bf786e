#!/usr/bin/env bash
# Rolling work against the real fleet: --batch keeps at most N hosts at
# work, --max-fail stops starting hosts and reports the rest skipped,
# --rerun selects the hosts of the last run by how they ended.
. "$(dirname "$0")/lib.sh"

# The commands run as the fleet's users: they leave marks in a directory
# all of them may write.
chmod 755 "$T"
D=$T/marks
mkdir -m 1777 "$D"
hosts=$(for i in 1 2 3 4 5 6; do printf '%s,' "$(fleet_addr "$i")"; done)
hosts=${hosts%,}

# A host at work holds $D/run.USER; each records how many it saw. With
# --batch 2 no host may ever see more than two: the next host starts only
# once a command ended (and removed its mark).
count='ls '"$D"' | grep -c "^run\."'
work="touch $D/run.\$USER; $count >$D/seen.\$USER; sleep 0.3; rm $D/run.\$USER"
"$MUSTER" run "${MUSTER_OPTS[@]}" --batch 2 -w "$hosts" -- "$work" >"$T/out" 2>"$T/err" ||
	fail "--batch 2 failed: $(cat "$T/err")"
assert_eq 6 "$(ls "$D" | grep -c '^seen\.')" "--batch 2: every host ran"
max=$(cat "$D"/seen.* | sort -n | tail -1)
[ "$max" -le 2 ] || fail "--batch 2: a host saw $max at work at once"
ok "--batch 2: never more than 2 hosts at work"

# The check sees more when there are more: with --batch 3 (50% of 6),
# each waits until it sees three at work, which happens only if three run
# at once (bounded wait, not a timing assertion).
rm -f "$D"/seen.*
wait3="touch $D/run.\$USER; for i in \$(seq 300); do [ \$($count) -ge 3 ] && break; sleep 0.1; done; $count >$D/seen.\$USER; sleep 0.3; rm $D/run.\$USER"
"$MUSTER" run "${MUSTER_OPTS[@]}" --batch 50% -w "$hosts" -- "$wait3" >"$T/out" 2>"$T/err" ||
	fail "--batch 50% failed: $(cat "$T/err")"
max=$(cat "$D"/seen.* | sort -n | tail -1)
assert_eq 3 "$max" "--batch 50% of 6: three at work at once, never more"
ok "--batch N%"

# --max-fail 2 with one host at a time: hosts 1 and 2 fail, 3..6 never
# start: reported skipped, never run, exit status 5.
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" --batch 1 --max-fail 2 --json -w "$hosts" -- "touch $D/ran.\$USER; exit 1" >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 5 "$rc" "--max-fail: exit status 5 (cut short)"
assert_eq 2 "$(grep -c '"status":"failed"' "$T/out")" "two failed"
assert_eq 4 "$(grep -c '"status":"skipped"' "$T/out")" "four skipped in the JSON"
for i in 3 4 5 6; do
	[ ! -e "$D/ran.$(fleet_user "$i")" ] || fail "host $i ran after --max-fail"
done
assert_contains "$(cat "$T/err")" "6 hosts: 0 ok, 2 failed, 0 unreachable, 4 skipped" "summary counts the skipped"
ok "--max-fail N"

# --rerun skipped: exactly the four, from the state kept by the last run.
"$MUSTER" run "${MUSTER_OPTS[@]}" --rerun skipped -- 'echo again' >"$T/out" 2>"$T/err" ||
	fail "--rerun skipped failed: $(cat "$T/err")"
assert_eq "$(for i in 3 4 5 6; do echo "$(fleet_addr "$i"): again"; done)" "$(sort "$T/out")" "--rerun skipped"
state=$XDG_CACHE_HOME/muster/last-run
[ -f "$state" ] || fail "no state file at $state"
[ "$(stat -c %a "$XDG_CACHE_HOME/muster")" = 700 ] || fail "state directory not private"
ls -A "$XDG_CACHE_HOME/muster" | grep -q '^\.last-run' && fail "a temporary state file was left"
ok "--rerun skipped"

# --max-fail as a percentage: 50% of 6 is 3.
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" --batch 1 --max-fail 50% -w "$hosts" -- false >/dev/null 2>"$T/err"; rc=$?
set -e
assert_eq 5 "$rc" "--max-fail 50%: cut short"
assert_contains "$(cat "$T/err")" "3 failed, 0 unreachable, 3 skipped" "--max-fail 50% of 6 hosts"
ok "--max-fail N%"

# --rerun failed after a run where hosts 2 and 4 failed and host 6 was
# unreachable (a port nobody listens on).
u2=$(fleet_user 2) u4=$(fleet_user 4)
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" --connect-timeout 3 -w "$(fleet_addr 1),$(fleet_addr 2),$(fleet_addr 3),$(fleet_addr 4),$(fleet_addr 6):1" \
	-- "case \$USER in $u2|$u4) exit 1;; esac" >/dev/null 2>&1
set -e
"$MUSTER" run "${MUSTER_OPTS[@]}" --rerun failed -- 'echo $USER' >"$T/out"
assert_eq "$(printf '%s: %s\n%s: %s' "$(fleet_addr 2)" "$u2" "$(fleet_addr 4)" "$u4")" "$(sort "$T/out")" "--rerun failed"
# The rerun is a run too: all ok now, so nothing failed is left.
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" --rerun failed -- true >"$T/out" 2>"$T/err"; rc=$?
set -e
assert_eq 0 "$rc" "--rerun with nothing to rerun: exit 0"
assert_contains "$(cat "$T/err")" "nothing to do" "--rerun with nothing to rerun says so"
ok "--rerun failed"

set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" --connect-timeout 3 -w "$(fleet_addr 1),$(fleet_addr 2),$(fleet_addr 6):1" -- true >/dev/null 2>&1
set -e
"$MUSTER" run "${MUSTER_OPTS[@]}" --rerun unreachable,failed -- true >"$T/out" 2>"$T/err" && fail "rerun of an unreachable host succeeded"
assert_contains "$(cat "$T/err")" "1 host: 0 ok, 0 failed, 1 unreachable" "--rerun unreachable,failed: the unreachable host"
# With -w, --rerun keeps only the named hosts that ended so.
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1),$(fleet_addr 2)" -- true >/dev/null 2>&1
out=$("$MUSTER" run "${MUSTER_OPTS[@]}" --rerun ok -w "$(fleet_addr 2),$(fleet_addr 3)" -- 'echo $USER')
assert_eq "$(fleet_addr 2): $u2" "$out" "--rerun with -w: the intersection"
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" --rerun bogus -- true 2>"$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "--rerun with an unknown status"
assert_contains "$(cat "$T/err")" "failed, unreachable" "--rerun names what it takes"
rm -rf "$XDG_CACHE_HOME"
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" --rerun failed -- true 2>"$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "--rerun with no run recorded"
assert_contains "$(cat "$T/err")" "no run recorded" "--rerun without a state file says so"
ok "--rerun statuses, with -w, bad input"

# push rolls too, and is recorded for --rerun.
echo data >"$T/file"
set +e
"$MUSTER" push "${MUSTER_OPTS[@]}" --batch 1 --max-fail 1 -w "$(fleet_addr 1),$(fleet_addr 2)" "$T/file" /nonexistent/dir/file >/dev/null 2>"$T/err"; rc=$?
set -e
assert_eq 5 "$rc" "push --max-fail 1: cut short"
assert_contains "$(cat "$T/err")" "1 skipped" "push: the second host skipped"
"$MUSTER" push "${MUSTER_OPTS[@]}" --rerun skipped "$T/file" /tmp/muster-rolling-$$ >"$T/out" 2>&1 ||
	fail "push --rerun skipped: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "$(fleet_addr 2): changed" "push --rerun skipped: host 2"
rm -f "/tmp/muster-rolling-$$"
ok "push --batch, --max-fail, --rerun"

# --max-fail without --batch: hosts start as the pacing allows (here one
# set-up at a time, --fanout 1), and after the second failure no new one
# starts. Two addresses where nothing listens fail first, at once and in
# order (the next set-up starts only when one ends): hosts 1-3 are skipped,
# never run, exit status 5.
((FLEET_N < 198)) || fail "the refused addresses $FLEET_NET.198-199 are inside this fleet"
rm -f "$D"/ran.*
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" --fanout 1 --max-fail 2 --json \
	-w "$FLEET_NET.198,$FLEET_NET.199,$(fleet_addr 1),$(fleet_addr 2),$(fleet_addr 3)" \
	-- "touch $D/ran.\$USER" >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 5 "$rc" "--max-fail without --batch: exit status 5 (cut short)"
assert_eq 2 "$(grep -c '"status":"unreachable"' "$T/out")" "two unreachable"
assert_eq 3 "$(grep -c '"status":"skipped"' "$T/out")" "three skipped in the JSON"
for i in 1 2 3; do
	[ ! -e "$D/ran.$(fleet_user "$i")" ] || fail "host $i ran after --max-fail"
done
assert_contains "$(cat "$T/err")" "5 hosts: 0 ok, 0 failed, 2 unreachable, 3 skipped" "summary counts the skipped"
ok "--max-fail without --batch stops starting hosts"

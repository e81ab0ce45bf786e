#!/usr/bin/env bash
# muster pull: a file and a tree from every host into LOCALDIR/<host>/,
# verified; hostile names from a host never escape.
. "$(dirname "$0")/lib.sh"

n=$FLEET_N
for i in $(seq 1 "$n"); do
	h=$(fleet_home "$i")
	rm -rf "$h/pulltest"; mkdir -p "$h/pulltest/d/sub"
	echo "host $i" >"$h/pulltest/file"
	head -c 100000 /dev/urandom >"$h/pulltest/d/sub/bin"
	ln -s ../file "$h/pulltest/d/link"
	: >"$h/pulltest/d/empty"
	chown -R "$(fleet_user "$i"):" "$h/pulltest"
done

"$MUSTER" pull "${MUSTER_OPTS[@]}" --json pulltest/file "$T/logs" >"$T/j" 2>"$T/err" ||
	fail "pull failed: $(cat "$T/err")"
assert_eq "$n" "$(grep -c '"status":"ok"' "$T/j")" "every host ok"
for i in $(seq 1 "$n"); do
	assert_eq "host $i" "$(cat "$T/logs/$(fleet_addr "$i")/file")" "host $i file"
done
ls -A "$T/logs/$(fleet_addr 1)" | grep -q muster-tmp && fail "temporary file left"
ok "file from $n hosts"

"$MUSTER" pull "${MUSTER_OPTS[@]}" -r pulltest/d "$T/trees" >"$T/out" 2>"$T/err" ||
	fail "tree pull failed: $(cat "$T/err")"
for i in $(seq 1 "$n"); do
	diff -r --no-dereference "$(fleet_home "$i")/pulltest/d" "$T/trees/$(fleet_addr "$i")/d" ||
		fail "host $i: pulled tree differs"
done
ok "tree from $n hosts"

set +e
"$MUSTER" pull "${MUSTER_OPTS[@]}" --json -w "$(fleet_addr 1)" pulltest/d "$T/x" >"$T/j"; rc=$?
set -e
assert_eq 1 "$rc" "directory without -r fails"
assert_contains "$(cat "$T/j")" "-r" "message suggests -r"
set +e
"$MUSTER" pull "${MUSTER_OPTS[@]}" --json -w "$(fleet_addr 1)" pulltest/missing "$T/x" >"$T/j"; rc=$?
set -e
assert_eq 1 "$rc" "missing file fails"
assert_contains "$(cat "$T/j")" "No such file" "missing file message"
ok "pull errors"

# --- consistency: a file rewritten while it is read never replaces a good copy --
# Host 1's file is pulled once while nothing writes it (the good copy), then
# again while a writer on the host keeps rewriting bytes in place: the second
# pull must fail and leave the good copy as it was, alone and inside -r trees,
# and a tree goes on with its other entries.
h1=$(fleet_home 1) u1=$(fleet_user 1) a1=$(fleet_addr 1)
rm -rf "$h1/churn"; mkdir -p "$h1/churn/t"
head -c $((8 << 20)) /dev/urandom >"$h1/churn/t/b_busy"
echo before >"$h1/churn/t/a_first"
echo after >"$h1/churn/t/c_last"
chown -R "$u1:" "$h1/churn"
"$MUSTER" pull "${MUSTER_OPTS[@]}" -w "$a1" churn/t/b_busy "$T/churn" 2>"$T/err" ||
	fail "pulling the quiet file failed: $(cat "$T/err")"
"$MUSTER" pull "${MUSTER_OPTS[@]}" -w "$a1" -r churn/t "$T/churn" 2>"$T/err" ||
	fail "pulling the quiet tree failed: $(cat "$T/err")"
good=$(sha256sum <"$T/churn/$a1/b_busy")
rm "$T/churn/$a1/t/c_last"
# The writer changes one byte at a time, in place (the size never changes),
# as fast as it can, as the host's user.
setpriv --reuid "$u1" --regid "$(id -g "$u1")" --clear-groups perl -e '
open(my $f, "+<", $ARGV[0]) or die "$ARGV[0]: $!";
for (my $n = 0; ; $n++) {
	sysseek($f, ($n * 7919) % (8 << 20), 0);
	syswrite($f, chr($n & 255));
}' "$h1/churn/t/b_busy" &
writer=$!
at_exit "kill $writer 2>/dev/null"
for _ in 1 2 3; do
	set +e
	"$MUSTER" pull "${MUSTER_OPTS[@]}" --json -w "$a1" churn/t/b_busy "$T/churn" >"$T/j" 2>"$T/err"
	rc=$?
	set -e
	assert_eq 1 "$rc" "a file rewritten while pulled fails ($(cat "$T/j"))"
	assert_contains "$(cat "$T/j")" "file changed while reading" "says why"
	assert_contains "$(cat "$T/j")" '"status":"failed"' "host failed"
	assert_eq "$good" "$(sha256sum <"$T/churn/$a1/b_busy")" "the good copy is untouched"
done
set +e
"$MUSTER" pull "${MUSTER_OPTS[@]}" --json -w "$a1" -r churn/t "$T/churn" >"$T/j" 2>"$T/err"
rc=$?
set -e
assert_eq 1 "$rc" "a tree with a file rewritten while pulled fails"
assert_eq "$good" "$(sha256sum <"$T/churn/$a1/t/b_busy")" "the good copy in the tree is untouched"
assert_eq after "$(cat "$T/churn/$a1/t/c_last")" "the entries after the busy file are pulled"
assert_contains "$(cat "$T/j")" '"skipped":["b_busy: file changed while reading' "the busy file is listed as skipped"
kill "$writer"; wait "$writer" 2>/dev/null || true
ls -A "$T/churn/$a1" "$T/churn/$a1/t" | grep -q muster-tmp && fail "temporary file left"
ok "a file rewritten while pulled never replaces a good copy"

# --- pull -r goes on past an unreadable directory ---------------------------------
rm -rf "$h1/unread"; mkdir -p "$h1/unread/t/b_locked" "$h1/unread/t/c_dir"
echo a >"$h1/unread/t/a_file"; echo hidden >"$h1/unread/t/b_locked/x"
echo c >"$h1/unread/t/c_dir/y"; echo d >"$h1/unread/t/d_file"
echo e >"$h1/unread/t/e_locked_file"
chown -R "$u1:" "$h1/unread"
chmod 000 "$h1/unread/t/b_locked" "$h1/unread/t/e_locked_file"
set +e
"$MUSTER" pull "${MUSTER_OPTS[@]}" -w "$a1" -r unread/t "$T/unread" >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 1 "$rc" "a tree with unreadable entries fails"
for f in a_file c_dir/y d_file; do
	[[ -f $T/unread/$a1/t/$f ]] || fail "$f after the unreadable directory was not pulled: $(cat "$T/err")"
done
[[ -e $T/unread/$a1/t/b_locked/x || -e $T/unread/$a1/t/e_locked_file ]] && fail "an unreadable entry landed"
assert_contains "$(cat "$T/err")" "skipped: b_locked: " "the unreadable directory is listed"
assert_contains "$(cat "$T/err")" "skipped: e_locked_file: " "the unreadable file is listed"
assert_contains "$(cat "$T/err")" "2 entries skipped" "the count is given"
ok "pull -r reports unreadable entries and goes on"

# --- a pull that did not finish is never ok ----------------------------------------
# A sparse 2 GiB file reads fast but takes seconds to send; the pull is
# interrupted once its temporary file exists, then the agent is killed in
# the middle of another.
truncate -s 2G "$h1/churn/huge"; chown "$u1:" "$h1/churn/huge"
at_exit "rm -f '$h1/churn/huge'"
for how in INT TERM agent; do
	rm -rf "$T/cut"
	"$MUSTER" pull "${MUSTER_OPTS[@]}" --json -w "$a1" churn/huge "$T/cut" >"$T/j" 2>"$T/err" &
	pid=$!
	for _ in $(seq 1 $((300 * SLOW))); do
		compgen -G "$T/cut/$a1/.muster-tmp.*" >/dev/null && break
		sleep 0.1
	done
	compgen -G "$T/cut/$a1/.muster-tmp.*" >/dev/null || fail "the pull never started writing"
	if [[ $how == agent ]]; then
		pkill -KILL -u "$u1" -f muster-agent || fail "no agent to kill"
	else
		kill -"$how" "$pid"
	fi
	set +e
	wait "$pid"
	rc=$?
	set -e
	[[ $rc != 0 ]] || fail "$how: an unfinished pull exited 0"
	assert_contains "$(cat "$T/j")" '"status":"failed"' "$how: the host is failed, not ok or unreachable"
	[[ -e $T/cut/$a1/huge ]] && fail "$how: a partial file landed"
	compgen -G "$T/cut/$a1/.muster-tmp.*" >/dev/null && fail "$how: temporary file left"
done
ok "an interrupted or lost pull is failed"

# One host, one name on disk: pull's directory and run --outdir's file are
# named by the same rule. Two users on one address make the labels
# "user@host"; whichever of them the host lets in must get the same name
# from both (a user the host refuses fails both runs alike).
w="$(fleet_user 2)@$(fleet_addr 2),$(fleet_user 1)@$(fleet_addr 2)"
set +e
"$MUSTER" pull "${MUSTER_OPTS[@]}" -w "$w" pulltest/file "$T/names" >/dev/null 2>"$T/err"
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$w" --outdir "$T/names-out" -- true >/dev/null 2>>"$T/err"
set -e
n2="$(fleet_user 2)@$(fleet_addr 2)"
[[ -d $T/names/$n2 ]] || fail "pull -w $w: no directory $n2: $(ls -A "$T/names") $(cat "$T/err")"
[[ -f $T/names-out/$n2 ]] ||
	fail "run --outdir -w $w: no file $n2: $(ls -A "$T/names-out") $(cat "$T/err")"
ok "pull and --outdir give $n2 one name"

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

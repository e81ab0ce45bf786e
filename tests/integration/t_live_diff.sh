#!/usr/bin/env bash
# -L (live gather) and --diff on real hosts: groups form as hosts finish,
# and differing hosts show as unified diffs against the most common output.
. "$(dirname "$0")/lib.sh"

hosts="$(fleet_addr 1),$(fleet_addr 2),$(fleet_addr 3),$(fleet_addr 4),$(fleet_addr 5)"
# Hosts 1-3 print the same; 4 one line more; 5 fails with a message.
cmd='seq 1 5; case $USER in *4) echo extra;; *5) echo broken >&2; exit 7;; esac'

"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$hosts" --diff -- "$cmd" >"$T/out" 2>"$T/err" && fail "--diff: exit 0 despite a failing host"
cat >"$T/want" <<EOF
---------------
$FLEET_NET.[1-3] (3) [most common]
---------------
1
2
3
4
5
---------------
$FLEET_NET.4
---------------
--- $FLEET_NET.[1-3] (stdout, most common)
+++ $FLEET_NET.4 (stdout)
@@ -3,3 +3,4 @@
 3
 4
 5
+extra
---------------
$FLEET_NET.5 exited with code 7
---------------
--- $FLEET_NET.[1-3] (stderr, most common)
+++ $FLEET_NET.5 (stderr)
@@ -0,0 +1 @@
+broken
EOF
assert_file_eq "$T/want" "$T/out" "--diff output"
assert_contains "$(cat "$T/err")" "5 hosts: 4 ok, 1 failed" "--diff summary"
ok "--diff"

"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$hosts" -L -- "$cmd" >"$T/out" 2>"$T/err" && fail "-L: exit 0 despite a failing host"
# Arrival order varies; the blocks and the final map do not.
[[ $(grep -c '^---------------$' "$T/out") == 7 ]] || fail "-L: expected 3 blocks and a map: $(cat "$T/out")"
map=$(sed -n '/^#[0-9]* [^+]/p' "$T/out" | sed 's/^#[0-9]* //' | LC_ALL=C sort)
assert_eq "$FLEET_NET.4 (1)
$FLEET_NET.5 (1) exited with code 7
$FLEET_NET.[1-3] (3)" "$map" "-L final map"
[[ $(grep -c '^broken$' "$T/err") == 1 ]] || fail "-L: stderr of the failing host once: $(cat "$T/err")"
ok "-L"

#!/usr/bin/env bash
# Output arrives exactly: binary bytes, missing final newline, a big stream
# from one host next to small ones, the JSON and gather modes.
. "$(dirname "$0")/lib.sh"

h1="$(fleet_user 1)@$(fleet_addr 1)"
h2="$(fleet_user 2)@$(fleet_addr 2)"
h3="$(fleet_user 3)@$(fleet_addr 3)"

# Non-UTF-8 and NUL bytes survive --json losslessly (stdout_b64).
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" --json -- "printf 'a\\377b\\000c'" >"$T/json"
python3 - "$T/json" <<'PY'
import base64, json, sys
o = json.loads(open(sys.argv[1]).read())
assert o["status"] == "ok", o
assert o["stdout"] is None, o
assert base64.b64decode(o["stdout_b64"]) == b"a\xffb\x00c", o
for k in ("host", "exit_code", "signal", "stderr", "duration_ms", "error"):
    assert k in o, k
PY
ok "binary output is lossless in --json"

# A last line without a newline still arrives, once.
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" -- "printf 'one\\ntwo'" >"$T/out"
printf '%s: one\n%s: two\n' "$(fleet_addr 1)" "$(fleet_addr 1)" >"$T/want"
assert_file_eq "$T/want" "$T/out" "line without final newline"
ok "line without newline"

# stderr goes to stderr, prefixed.
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" -- 'echo out; echo err >&2' >"$T/out" 2>"$T/err"
assert_eq "$(fleet_addr 1): out" "$(cat "$T/out")" "stdout"
assert_contains "$(cat "$T/err")" "$(fleet_addr 1): err" "stderr"
ok "stdout and stderr separated"

# 50 MB from one host, streamed byte-exact, while the others finish first.
# Under valgrind 5 MB: still many frames and windows' worth.
lines=$(vg_pick 500000 50000)
line=$(printf '%099d' 0 | tr 0 x)
big='if [ "$USER" = '"$(fleet_user 1)"' ]; then yes '"$line"' | head -n '"$lines"'; else echo small; fi'
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1,$h2,$h3" --json -- "$big" >"$T/json"
python3 - "$T/json" "$(fleet_addr 1)" "$lines" <<'PY'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert len(objs) == 3, len(objs)
# The small hosts' results are complete before the big host's.
assert objs[-1]["host"] == sys.argv[2], [o["host"] for o in objs]
big = objs[-1]["stdout"]
lines = int(sys.argv[3])
assert len(big) == 100 * lines, len(big)
assert big == ("x" * 99 + "\n") * lines
assert all(o["stdout"] == "small\n" for o in objs[:2])
PY
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" -- "$big" | sed "s/^$(fleet_addr 1): //" | sha256sum >"$T/got"
{ yes "$line" || :; } | head -n "$lines" | sha256sum >"$T/want"
assert_file_eq "$T/want" "$T/got" "$((lines / 10000)) MB streamed"
ok "$((lines / 10000)) MB from one host, others first"

# --max-total-output bounds what -b holds across hosts: 8 hosts x 3 MiB
# against an 8 MiB budget. Exactly the budget is printed, the cut hosts
# are flagged, stderr says why, and --outdir still gets every byte.
# Under valgrind every size is a quarter: 768 KiB, 2 MiB, 1 MiB.
q=$(vg_pick 1 4)
per=$((3145728 / q)) cap=$((8388608 / q))
hosts=""
for i in $(seq 1 $((FLEET_N < 8 ? FLEET_N : 8))); do
	hosts+="${hosts:+,}$(fleet_user "$i")@$(fleet_addr "$i")"
done
nh=$((FLEET_N < 8 ? FLEET_N : 8))
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$hosts" -b --max-output "$(vg_pick 4M 1M)" --max-total-output "$(vg_pick 8M 2M)" \
	--outdir "$T/od" -- "head -c $per /dev/zero | tr '\\0' x" >"$T/out" 2>"$T/err" ||
	fail "capped gather run failed: $(cat "$T/err")"
# Hosts cut at the same length fold into one block: count each block's
# bytes once per host in it.
printed=$(python3 - "$T/out" <<'PY'
import re, sys
n, total = 0, 0
for line in open(sys.argv[1]):
    m = re.match(r"^\S+ \((\d+)\)", line)
    if m:
        n = int(m.group(1))
    elif line.startswith("x"):
        total += (len(line) - 1) * n
print(total)
PY
)
assert_eq $((nh * per > cap ? cap : nh * per)) "$printed" "bytes held under the total cap"
((nh * per <= cap)) || grep -q 'stdout truncated' "$T/out" || fail "no host flagged truncated"
((nh * per <= cap)) || assert_contains "$(cat "$T/err")" "--max-total-output" "the summary names the cap"
for f in "$T"/od/*; do
	assert_eq "$per" "$(wc -c <"$f")" "--outdir file $f under the total cap"
done
assert_eq "$nh" "$(find "$T/od" -type f | wc -l)" "--outdir files"
ok "--max-total-output caps what -b holds, --outdir keeps all"

# Gather: identical outputs folded into one block.
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1,$h2,$h3" -b -- echo same >"$T/out"
assert_contains "$(cat "$T/out")" "$(fleet_addr 1 | sed 's/\.[0-9]*$//').[1-3] (3)" "folded host set"
assert_eq 1 "$(grep -c '^same$' "$T/out")" "output printed once"
ok "gather mode"

# Control characters are neutralised for the terminal, kept with --raw.
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" -- "printf '\\033[31mred\\n'" >"$T/out"
grep -q $'\033' "$T/out" && fail "escape sequence reached the output"
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" --raw -- "printf '\\033[31mred\\n'" >"$T/out"
grep -q $'\033' "$T/out" || fail "--raw lost the escape byte"
ok "control characters"

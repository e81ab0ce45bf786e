#!/usr/bin/env bash
# A hostile agent on some hosts, the real one on the others, all in one
# run: each hostile host must fail with a clear error (or, for a flood of
# valid frames, succeed with exactly what was sent), the good hosts must
# succeed, muster must exit promptly, and its peak memory must stay near
# that of a run without hostile hosts.
#
# The fake agent (tests/hostile/hostile_agent.c) reaches a host through
# that host user's authorized_keys: a forced command="hostile_agent MODE"
# runs instead of the bootstrap's start command, so the controller and the
# other hosts are untouched. The key line is put back on exit.
. "$(dirname "$0")/lib.sh"

HOSTILE=$BUILD_DIR/tests/hostile_agent
[[ -x $HOSTILE ]] || fail "no $HOSTILE (built with the tests)"
[[ -x /usr/bin/time ]] || fail "/usr/bin/time is missing (deploy/install-deps)"

# mode  expected error text
cases=(
	"oversize|frame larger than the maximum"
	"truncated|agent exited"
	"garbage|bad frame from agent"
	"unknown|unexpected message 0 on stream"
	"badstream|which is not open"
	"credit|bytes of credit"
	"hello-version|agent speaks protocol 99"
	"hello-build|build id does not match"
	"stall|agent silent"
)
ngood=4
((FLEET_N >= ngood + ${#cases[@]} + 1)) || fail "needs $((ngood + ${#cases[@]} + 1)) hosts"

good=()
for i in $(seq 1 $ngood); do good+=("$(fleet_user "$i")@$(fleet_addr "$i")"); done

# install_hostile I MODE: host I runs the hostile agent in MODE.
install_hostile() {
	local home user
	home=$(fleet_home "$1") user=$(fleet_user "$1")
	cp -p "$home/.ssh/authorized_keys" "$T/ak.$1"
	at_exit "cp -p '$T/ak.$1' '$home/.ssh/authorized_keys'"
	install -m 0755 -o "$user" "$HOSTILE" "$home/hostile_agent"
	at_exit "rm -f '$home/hostile_agent'"
	# A stalling fake agent ignores the closed channel; end it by name,
	# for this host user only.
	at_exit "pkill -KILL -u '$user' -x hostile_agent || true"
	printf 'command="%s %s",no-pty %s\n' "$home/hostile_agent" "$2" "$(cat "$KEY.pub")" \
		>"$home/.ssh/authorized_keys"
}

hostile=() modes=() wants=()
i=$ngood
for c in "${cases[@]}"; do
	i=$((i + 1))
	install_hostile "$i" "${c%%|*}"
	hostile+=("$(fleet_user "$i")@$(fleet_addr "$i")")
	modes+=("${c%%|*}")
	wants+=("${c#*|}")
done
flood=$((i + 1))
install_hostile "$flood" flood
floodhost="$(fleet_user "$flood")@$(fleet_addr "$flood")"

list=$(IFS=,; echo "${good[*]},${hostile[*]},$floodhost")

# Peak RSS is compared with a baseline run; under ASan, freed memory
# would sit in the quarantine and blur that, so keep it small (ASAN_OPTIONS
# is ignored by a build without ASan).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"

# Baseline: the good hosts alone.
/usr/bin/time -f %M -o "$T/rss0" "$MUSTER" run "${MUSTER_OPTS[@]}" -w "$(IFS=,; echo "${good[*]}")" \
	--json -- echo hi >"$T/j0" 2>"$T/e0" || fail "baseline run failed: $(cat "$T/e0")"

start=$(date +%s)
set +e
MUSTER_HEARTBEAT=1 timeout $((60 * SLOW)) /usr/bin/time -f %M -o "$T/rss" "$MUSTER" run "${MUSTER_OPTS[@]}" \
	-w "$list" --connect-timeout $((5 * SLOW)) --json -- echo hi >"$T/j" 2>"$T/e"
rc=$?
set -e
took=$(($(date +%s) - start))
((rc != 124)) || fail "muster hung with hostile hosts (killed after $((60 * SLOW)) s)"
assert_eq 3 "$rc" "exit status with unreachable hosts$(printf '\n%s' "$(cat "$T/e")")"
((took <= 30 * SLOW)) || fail "muster took ${took}s"

status_of() { python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["host"] == sys.argv[2]:
        print(o["status"], o.get("error") or "", sep="|")
        sys.exit(0)
print("missing|")' "$T/j" "${1#*@}"; }

for h in "${good[@]}"; do
	assert_eq "ok|" "$(status_of "$h")" "good host $h succeeds next to hostile ones"
done
ok "good hosts unaffected"

for k in "${!hostile[@]}"; do
	got=$(status_of "${hostile[$k]}")
	st=${got%%|*} err=${got#*|}
	[[ $st == failed || $st == unreachable || $st == timeout ]] ||
		fail "${modes[$k]}: host not failed: $got"
	[[ -n $err ]] || fail "${modes[$k]}: no error text: $got"
	assert_contains "$err" "${wants[$k]}" "${modes[$k]}: error says what happened"
	ok "hostile agent '${modes[$k]}': $st: $err"
done

# The flood: 300 000 one-byte Data frames are valid, and all arrive.
python3 - "$T/j" "${floodhost#*@}" <<'PY' || fail "flood host result wrong"
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["host"] == sys.argv[2]:
        assert o["status"] == "ok", o
        assert o["stdout"] == "x" * 300000, len(o["stdout"] or "")
        sys.exit(0)
sys.exit(1)
PY
ok "a flood of 300000 small frames: all output, host ok"

rss0=$(tail -n 1 "$T/rss0") rss=$(tail -n 1 "$T/rss")
# Hostile frames may cost at most a frame buffer or two (1 MiB each) per
# host plus the flood's output; 64 MiB above the baseline is generous.
# Under valgrind the RSS is mostly valgrind's own: not checked.
if ((UNDER_VALGRIND)); then
	echo "# peak RSS not checked under valgrind (${rss} KiB, baseline ${rss0} KiB)"
else
	((rss <= rss0 + 65536)) || fail "peak RSS ${rss} KiB vs ${rss0} KiB without hostile hosts"
fi
ok "muster exited in ${took}s, peak RSS ${rss} KiB (baseline ${rss0} KiB)"

# --- terminal escapes in what a host says about itself ----------------------
# Error texts from a hostile agent (a stream's Error, a failed Put's Result,
# the channel's Error during watch) reach the human output modes only
# neutralised: no ESC or C1 byte, "\x1b" instead.
esc=$((flood + 1))
install_hostile "$esc" escape
eh="$(fleet_user "$esc")@$(fleet_addr "$esc")"
no_escapes() { # FILE WHAT
	grep -q 'evil' "$1" || fail "$2: the error text is missing: $(cat "$1")"
	if LC_ALL=C grep -q $'[\x1b\x07\x9b]' "$1"; then
		fail "$2: raw terminal escapes in the output: $(cat -v "$1")"
	fi
	assert_contains "$(cat "$1")" '\x1b' "$2: escapes shown as \\x1b"
}
set +e
timeout $((30 * SLOW)) "$MUSTER" run "${MUSTER_OPTS[@]}" -w "$eh" -- true >"$T/o" 2>&1
echo hi >"$T/src"
timeout $((30 * SLOW)) "$MUSTER" push "${MUSTER_OPTS[@]}" -w "$eh" "$T/src" hostile-dst >"$T/p" 2>&1
timeout $((30 * SLOW)) "$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$eh" --interval 0.5 --duration $((5 * SLOW)) >"$T/w" 2>&1
set -e
no_escapes "$T/o" run
no_escapes "$T/p" push
no_escapes "$T/w" watch
ok "terminal escapes in agent error texts are neutralised (run, push, watch)"

#!/usr/bin/env bash
# muster watch: JSON samples agree with /proc, the Prometheus endpoint
# passes promtool, a killed host goes DOWN and comes back UP, a host whose
# agent is stopped goes DOWN within a few intervals and UP when continued,
# alerts fire and resolve (and run --alert-exec), --duration 0 is refused.
. "$(dirname "$0")/lib.sh"

hosts="$(fleet_addr 1),$(fleet_addr 2),$(fleet_addr 3)"

# The watches below run in the background with a --duration far longer
# than the test and are killed when the test has seen what it waits for:
# a loaded machine makes the test slower, never too short to see it.
# wait_for PATTERN COUNT [FILE]: until FILE ($T/ev) has COUNT matching lines.
wait_for() {
	local start=$SECONDS
	while ((SECONDS - start < 60 * SLOW)); do
		[ "$(grep -c "$1" "${3:-$T/ev}" || true)" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "timed out waiting for $2 x $1: $(tail -5 "${3:-$T/ev}")"
}

# --- --duration 0 is a usage error, not a watch that never ends ---
set +e
timeout $((20 * SLOW)) "$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1)" --json --duration 0 >"$T/d0" 2>"$T/err"
rc=$?
set -e
assert_eq 2 "$rc" "exit status of --duration 0 ($(cat "$T/err"))"
assert_contains "$(cat "$T/err")" "--duration: expected seconds, more than 0, got '0'" "--duration 0 message"
[ -s "$T/d0" ] && fail "--duration 0 printed samples: $(head -2 "$T/d0")"
ok "--duration 0 is a usage error"

# --- JSON lines ---
# Three samples of each host, however long setting them up takes.
"$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$hosts" --json --interval 0.5 --duration $((600 * SLOW)) >"$T/j" 2>"$T/err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null || true"
for i in 1 2 3; do
	wait_for "^{\"host\":\"$(fleet_addr "$i")\"" 3 "$T/j"
done
kill "$wpid"
wait "$wpid" 2>/dev/null || true
python3 - "$T/j" <<'PY'
import json, os, sys
# Whole lines only: the watch was killed, maybe in the middle of one.
lines = [json.loads(l) for l in open(sys.argv[1]) if l.endswith("\n")]
samples = [o for o in lines if "event" not in o]
hosts = {o["host"] for o in samples}
assert len(hosts) == 3, hosts
assert len(samples) >= 9, len(samples)
memtotal = int([l for l in open("/proc/meminfo") if l.startswith("MemTotal:")][0].split()[1]) * 1024
load1 = float(open("/proc/loadavg").read().split()[0])
for o in samples:
    for k in ("host", "ts", "cpu_pct", "load1", "mem_total_bytes", "mem_available_bytes", "disks", "net"):
        assert k in o, (k, o)
    # The fake hosts share this machine: what they report is this /proc.
    assert o["mem_total_bytes"] == memtotal, (o["mem_total_bytes"], memtotal)
    assert 0 <= o["cpu_pct"] <= 100, o["cpu_pct"]
    assert abs(o["load1"] - load1) < max(2.0, load1), (o["load1"], load1)
    assert o["mem_available_bytes"] <= memtotal
    assert any(d["mount"] == "/" for d in o["disks"]), o["disks"]
    assert o["ncpu"] == os.cpu_count(), o["ncpu"]
PY
ok "JSON samples agree with /proc"

# --- Prometheus endpoint ---
port=$(freeport 127.0.0.1)
"$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$hosts" --json --interval 0.5 --duration $((600 * SLOW)) --prometheus "127.0.0.1:$port" >/dev/null 2>"$T/err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null || true"
got=0 start=$SECONDS
while ((SECONDS - start < 60 * SLOW)); do
	if python3 -c "import urllib.request,sys; d=urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=2).read().decode(); sys.exit(0 if d.count('muster_up{') >= 3 and 'muster_load1{' in d else 1)" 2>/dev/null; then
		got=1; break
	fi
	sleep 0.2
done
[ "$got" = 1 ] || fail "metrics endpoint never showed all hosts: $(cat "$T/err")"
python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/metrics').read().decode(), end='')" >"$T/metrics"
promtool check metrics <"$T/metrics" || fail "promtool rejects the exposition"
for i in 1 2 3; do
	grep -q "^muster_up{host=\"$(fleet_addr "$i")\"} 1" "$T/metrics" || fail "host $i not up in metrics"
done
kill "$wpid"; wait "$wpid" 2>/dev/null || true
ok "Prometheus endpoint passes promtool and shows every host"

# --- a host killed mid-watch goes DOWN, comes back UP ---
u2=$(fleet_user 2)
"$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1),$(fleet_addr 2)" --json --interval 0.5 --duration $((600 * SLOW)) >"$T/ev" 2>"$T/err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null || true"
wait_for "\"event\":\"up\",\"host\":\"$(fleet_addr 2)\"" 1
fleet_kill 2
pkill -KILL -u "$u2" || true # the session and the agent die with the host
wait_for "\"event\":\"down\",\"host\":\"$(fleet_addr 2)\"" 1
fleet_start 2
wait_for "\"event\":\"up\",\"host\":\"$(fleet_addr 2)\"" 2
kill "$wpid"; wait "$wpid" 2>/dev/null || true
grep -q "\"event\":\"down\",\"host\":\"$(fleet_addr 1)\"" "$T/ev" && fail "host 1 went down too"
ok "killed host turns DOWN and comes back UP"

# --- alerts fire and clear ---
"$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1)" --json --interval 0.5 --duration $((600 * SLOW)) >"$T/p" 2>"$T/err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null || true"
wait_for '"procs"' 8 "$T/p"
kill "$wpid"
wait "$wpid" 2>/dev/null || true
procs=$(python3 -c 'import json,sys; print(max(json.loads(l)["procs"] for l in open(sys.argv[1]) if "procs" in l and l.endswith("\n")))' "$T/p")
limit=$((procs + 300))
cat >"$T/hook" <<HOOK
#!/bin/sh
env | grep '^MUSTER_ALERT_' | sort >>"$T/hook.out"
echo --- >>"$T/hook.out"
HOOK
chmod 755 "$T/hook"
"$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1)" --json --interval 0.5 --duration $((600 * SLOW)) \
	--alert "procs>$limit" --alert-exec "$T/hook" >"$T/ev" 2>"$T/err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null || true"
wait_for '"procs"' 2
for _ in $(seq 600); do sleep 60 & done
wait_for '"event":"alert"' 1
assert_contains "$(grep '"event":"alert"' "$T/ev" | head -1)" "firing" "alert fires"
pkill -f '^sleep 60$' || true
wait_for '"event":"alert"' 2
assert_contains "$(grep '"event":"alert"' "$T/ev" | sed -n 2p)" '"state":"resolved"' "alert resolves"
kill "$wpid"; wait "$wpid" 2>/dev/null || true
start=$SECONDS
while ((SECONDS - start < 60 * SLOW)); do [ "$(grep -c -- --- "$T/hook.out" 2>/dev/null || true)" -ge 2 ] && break; sleep 0.1; done
assert_contains "$(cat "$T/hook.out")" "MUSTER_ALERT_HOST=$(fleet_addr 1)" "alert-exec gets the host"
assert_contains "$(cat "$T/hook.out")" "MUSTER_ALERT_STATE=firing" "alert-exec firing"
assert_contains "$(cat "$T/hook.out")" "MUSTER_ALERT_STATE=resolved" "alert-exec resolved"
ok "alert fires and resolves, --alert-exec runs"

# --- an agent stopped mid-watch: DOWN within a few intervals, UP again ---
# SIGSTOP keeps the TCP connection and the SSH session open, so only the
# missing samples tell; the connection heartbeat alone took 30-48 s. With
# --interval 1 the host is stale after 3 s; 20 s leaves room for a loaded
# machine and is still below what the heartbeat would take.
agent_pid() { pgrep -u "$(fleet_user "$1")" -f 'muster-agent-.* --stdio' | head -n 1 || true; }
scrape() { python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=2).read().decode(), end='')" 2>/dev/null || true; }
wait_scrape() { # REGEX: until a scrape has a line matching it (into $T/metrics)
	local start=$SECONDS
	while ((SECONDS - start < 60 * SLOW)); do
		scrape >"$T/metrics"
		grep -Eq "$1" "$T/metrics" && return 0
		sleep 0.2
	done
	fail "no scrape matched $1 in $((SECONDS - start)) s: $(grep "$(fleet_addr 3)" "$T/metrics" | head -5)"
}
h3=$(fleet_addr 3)
port=$(freeport 127.0.0.1)
"$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1),$h3" --json --interval 1 --duration $((600 * SLOW)) \
	--prometheus "127.0.0.1:$port" >"$T/ev" 2>"$T/err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null || true"
wait_for "\"event\":\"up\",\"host\":\"$h3\"" 1
apid=$(agent_pid 3)
[ -n "$apid" ] || fail "no agent on host 3"
at_exit "kill -CONT $apid 2>/dev/null || true"
wait_scrape "^muster_up\{host=\"$h3\"\} 1$"
# Our own loop stuck past the threshold (here: the controller stopped) is
# not the hosts' fault: the samples that queued meanwhile are read, and no
# host goes down.
samples() { grep -c "^{\"host\":\"$1\"" "$T/ev" || true; }
before=$(samples "$h3")
at_exit "kill -CONT $wpid 2>/dev/null || true"
kill -STOP "$wpid"
sleep 6
kill -CONT "$wpid"
start=$SECONDS
while (($(samples "$h3") < before + 8)); do
	((SECONDS - start < 60 * SLOW)) || fail "samples did not resume after the controller was continued"
	sleep 0.1
done
grep -q '"event":"down"' "$T/ev" && fail "a stalled controller took hosts down: $(grep '"event":"down"' "$T/ev")"
kill -STOP "$apid"
start=$SECONDS
until grep -q "\"event\":\"down\",\"host\":\"$h3\"" "$T/ev"; do
	((SECONDS - start < 20 * SLOW)) || fail "no down event $((SECONDS - start)) s after the agent stopped: $(grep "\"event\"" "$T/ev" | tail -3)"
	sleep 0.1
done
stale_after=$((SECONDS - start))
assert_contains "$(grep "\"event\":\"down\",\"host\":\"$h3\"" "$T/ev")" '"detail":"no sample for ' "down says why"
wait_scrape "^muster_up\{host=\"$h3\"\} 0$"
grep -Eq "^muster_last_sample_received_timestamp_seconds\{host=\"$h3\"\} [0-9.e+]+$" "$T/metrics" ||
	fail "no sample time for the stale host: $(grep "$h3" "$T/metrics")"
grep -q "^muster_load1{host=\"$h3\"}" "$T/metrics" && fail "stale host's old sample still exported"
promtool check metrics <"$T/metrics" || fail "promtool rejects the exposition with a stale host"
kill -CONT "$apid"
wait_for "\"event\":\"up\",\"host\":\"$h3\"" 2
assert_contains "$(grep "\"event\":\"up\",\"host\":\"$h3\"" "$T/ev" | sed -n 2p)" '"detail":"samples resumed"' "up again on the same connection"
wait_scrape "^muster_up\{host=\"$h3\"\} 1$"
kill "$wpid"; wait "$wpid" 2>/dev/null || true
grep -q "\"event\":\"down\",\"host\":\"$(fleet_addr 1)\"" "$T/ev" && fail "host 1 went down too"
ok "stopped controller: no host down; stopped agent: down after ${stale_after}s, muster_up 0, up again when continued"

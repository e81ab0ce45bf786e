#!/usr/bin/env bash
# muster watch --prometheus against the real Prometheus ecosystem: the
# node_* families of /metrics?target=HOST against a real node_exporter
# on the same machine (names, types, label names, devices and mount
# points), and a real Prometheus scraping through deploy/prometheus's
# config (http_sd from /sd, per-host `up`, a query per family).
. "$(dirname "$0")/lib.sh"

for tool in prometheus prometheus-node-exporter promtool; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (deploy/install-deps installs it)"
done

get() { python3 -c 'import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }

h1=$(fleet_addr 1) h2=$(fleet_addr 2) h3=$(fleet_addr 3)
cat >"$T/inv" <<INV
[web]
$h1 user=$(fleet_user 1)
$h2 user=$(fleet_user 2)
[db]
$h2 user=$(fleet_user 2)
$h3 user=$(fleet_user 3)
INV

mport=$(freeport 127.0.0.1)
"$MUSTER" watch "${MUSTER_OPTS[@]}" -i "$T/inv" --json --interval 1 --duration $((600 * SLOW)) \
	--prometheus "127.0.0.1:$mport" >/dev/null 2>"$T/err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null || true"

nport=$(freeport 127.0.0.1)
prometheus-node-exporter --web.listen-address="127.0.0.1:$nport" >"$T/ne.log" 2>&1 &
npid=$!
at_exit "kill $npid 2>/dev/null || true"

for _ in $(seq $((150 * SLOW))); do
	if get "http://127.0.0.1:$mport/metrics?target=$h1" 2>/dev/null | grep -q '^node_cpu_seconds_total{' &&
		get "http://127.0.0.1:$nport/metrics" >/dev/null 2>&1; then
		break
	fi
	sleep 0.2
done
get "http://127.0.0.1:$mport/metrics?target=$h1" >"$T/m1" || fail "no per-target scrape: $(cat "$T/err")"
get "http://127.0.0.1:$nport/metrics" >"$T/ne" || fail "node_exporter did not answer: $(cat "$T/ne.log")"
get "http://127.0.0.1:$mport/metrics" >"$T/all"
# promtool's lint flags some of node_exporter's own names (camelCase
# netstat and memory fields, entropy in bits): what it says of
# node_exporter is not held against muster, anything else is a defect.
promtool check metrics <"$T/ne" >"$T/ne.lint" 2>&1 || true
lint() { promtool check metrics <"$1" 2>&1 | grep -v -x -F -f "$T/ne.lint" || true; }
assert_eq "$(lint "$T/m1")" "" "promtool on the per-target exposition"
assert_eq "$(lint "$T/all")" "" "promtool on the all-hosts exposition"
for f in 'muster_build_info{protocol="' process_cpu_seconds_total process_resident_memory_bytes \
	process_start_time_seconds process_open_fds "muster_load1{host=\"$h2\"}"; do
	grep -q "^$f" "$T/all" || fail "the all-hosts exposition has no $f"
done
grep -q '^process_' "$T/m1" && fail "a host's target has the controller's process_* families"
grep -q '^node_' "$T/all" && fail "the all-hosts page has node_* families (they are per target)"

# --- families, types, label names against node_exporter ---
python3 - "$T/m1" "$T/ne" "$T/coverage" <<'PY' || fail "families differ from node_exporter's"
import re, sys
def parse(path):
    fams, labels, series = {}, {}, {}
    for line in open(path):
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            fams[name] = typ
        elif line and not line.startswith("#"):
            m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ', line)
            names = tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or "")))
            labels.setdefault(m.group(1), set()).add(names)
            series.setdefault(m.group(1), set()).add(m.group(3) or "")
    return fams, labels, series
mf, ml, ms = parse(sys.argv[1])
nf, nl, ns = parse(sys.argv[2])
mnode = {k: v for k, v in mf.items() if k.startswith("node_")}
nnode = {k: v for k, v in nf.items() if k.startswith("node_") and
         not k.startswith(("node_exporter_", "node_scrape_", "node_textfile_"))}
errors = []
for name, typ in sorted(mnode.items()):
    if name.startswith("node_scrape_"):
        continue
    if name not in nf:
        errors.append("muster serves %s, node_exporter does not" % name)
    elif nf[name] != typ:
        errors.append("%s: type %s, node_exporter's %s" % (name, typ, nf[name]))
    elif ml.get(name) != nl.get(name):
        errors.append("%s: label names %s, node_exporter's %s" % (name, ml.get(name), nl.get(name)))
# The label values that tell series apart: same devices, mount points, CPUs.
def values(series, name, key):
    return {dict(re.findall(r'([a-zA-Z_]+)="([^"]*)"', s)).get(key) for s in series.get(name, ())}
for name, key in [("node_cpu_seconds_total", "cpu"), ("node_cpu_seconds_total", "mode"),
                  ("node_network_receive_bytes_total", "device"),
                  ("node_filesystem_avail_bytes", "mountpoint"),
                  ("node_disk_read_bytes_total", "device")]:
    if values(ms, name, key) != values(ns, name, key):
        errors.append("%s %s: %s, node_exporter's %s" % (name, key, sorted(values(ms, name, key) - {None}), sorted(values(ns, name, key) - {None})))
core = ["node_cpu_seconds_total", "node_load1", "node_load5", "node_load15",
        "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
        "node_filesystem_size_bytes", "node_filesystem_avail_bytes",
        "node_filesystem_free_bytes", "node_filesystem_files",
        "node_filesystem_files_free", "node_filesystem_readonly",
        "node_filesystem_device_error", "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total", "node_network_up",
        "node_network_info", "node_uname_info", "node_boot_time_seconds",
        "node_time_seconds", "node_context_switches_total",
        "node_forks_total", "node_intr_total", "node_procs_running",
        "node_procs_blocked", "node_filefd_allocated", "node_entropy_available_bits",
        "node_timex_sync_status", "node_vmstat_pgfault", "node_netstat_Tcp_CurrEstab",
        "node_sockstat_sockets_used"]
for name in core:
    if name in nnode and name not in mnode:
        errors.append("missing %s" % name)
served = sorted(set(nnode) & set(mnode))
missing = sorted(set(nnode) - set(mnode))
with open(sys.argv[3], "w") as f:
    f.write("muster serves %d of node_exporter's %d node_* families\n" % (len(served), len(nnode)))
    f.write("not served: %s\n" % " ".join(missing))
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
cat "$T/coverage"
ok "node_* families, types and labels agree with node_exporter's"

# --- /sd and unknown targets ---
get "http://127.0.0.1:$mport/sd" >"$T/sd"
python3 - "$T/sd" "$h1" "$h2" "$h3" <<'PY' || fail "/sd is wrong: $(cat "$T/sd")"
import json, sys
sd = json.load(open(sys.argv[1]))
got = {g["targets"][0]: g["labels"]["muster_groups"] for g in sd}
want = {sys.argv[2]: ",web,", sys.argv[3]: ",web,db,", sys.argv[4]: ",db,"}
assert got == want, got
PY
code=$(python3 -c 'import urllib.request,urllib.error,sys
try: urllib.request.urlopen(sys.argv[1], timeout=5); print(200)
except urllib.error.HTTPError as e: print(e.code)' "http://127.0.0.1:$mport/metrics?target=not-a-host")
assert_eq "$code" 404 "an unknown target is 404"
ok "/sd lists the hosts with their inventory groups"

# --- a real Prometheus through the shipped config ---
pport=$(freeport 127.0.0.1)
mkdir -p "$T/prom"
sed -e "s/CONTROLLER/127.0.0.1:$mport/g" -e 's/scrape_interval: 15s/scrape_interval: 1s/' \
	-e 's/refresh_interval: 1m/refresh_interval: 1s/' -e '/^rule_files:/,/^$/d' \
	"$SRC/deploy/prometheus/prometheus.yml" >"$T/prom/prometheus.yml"
promtool check config "$T/prom/prometheus.yml" >/dev/null || fail "promtool rejects the shipped config"
prometheus --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/prom/data" \
	--web.listen-address="127.0.0.1:$pport" >"$T/prom.log" 2>&1 &
ppid=$!
at_exit "kill $ppid 2>/dev/null || true"
query() { python3 -c 'import urllib.request,urllib.parse,json,sys
q = urllib.parse.urlencode({"query": sys.argv[2]})
r = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/query?" + q, timeout=5))
for s in r["data"]["result"]:
    print(s["metric"].get("instance", ""), s["metric"].get("muster_groups", ""), s["value"][1])' "http://127.0.0.1:$pport" "$1" 2>/dev/null | sort; }
for _ in $(seq $((300 * SLOW))); do
	[ "$(query 'up{job="node"} == 1' | wc -l)" = 3 ] && break
	sleep 0.2
done
query 'up{job="node"}' >"$T/up"
assert_eq "$(cat "$T/up")" "$h1 ,web, 1
$h2 ,web,db, 1
$h3 ,db, 1" "Prometheus has up == 1 per host, with groups"
# One query per family muster serves (in one request): each host has
# series of it.
grep '^# TYPE node_' "$T/m1" | awk '{print $3}' | sort >"$T/fams"
python3 - "http://127.0.0.1:$pport" "$T/fams" $((100 * SLOW)) <<'PY' || fail "families without series for every host in Prometheus"
import json, sys, time, urllib.parse, urllib.request
q = 'count by (__name__) (count by (__name__, instance) ({__name__=~"node_.+", job="node"}))'
want = open(sys.argv[2]).read().split()
for _ in range(int(sys.argv[3])):
    r = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": q}), timeout=5))
    got = {s["metric"]["__name__"]: s["value"][1] for s in r["data"]["result"]}
    bad = [f for f in want if got.get(f) != "3"]
    if not bad:
        break
    time.sleep(0.2)
print("families queried: %d, hosts each: 3" % len(got))
for f in bad:
    print("%s: %s hosts" % (f, got.get(f, 0)))
sys.exit(1 if bad else 0)
PY
ok "Prometheus scrapes every host through the shipped config ($(wc -l <"$T/fams") families, every host)"

# --- a host that goes down is down in Prometheus, the others stay up ---
fleet_kill 3
pkill -KILL -u "$(fleet_user 3)" || true # the session and the agent die with the host
for _ in $(seq $((150 * SLOW))); do
	[ "$(query 'up{job="node"} == 0' | awk '{print $1}')" = "$h3" ] && break
	sleep 0.2
done
code=$(python3 -c 'import urllib.request,urllib.error,sys
try: urllib.request.urlopen(sys.argv[1], timeout=5); print(200)
except urllib.error.HTTPError as e: print(e.code, e.read().decode().count("\nnode_"))' "http://127.0.0.1:$mport/metrics?target=$h3")
assert_eq "$code" "503 0" "a down host's target is 503 without node_* series"
assert_eq "$(query 'up{job="node"} == 1' | awk '{print $1}' | tr '\n' ' ')" "$h1 $h2 " "the other hosts stay up"
ok "a killed host is down in Prometheus, the others stay up"

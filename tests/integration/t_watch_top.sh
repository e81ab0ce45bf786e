#!/usr/bin/env bash
# muster watch's live view in a real terminal: tmux runs it in a detached
# session at 80x24 and at 200x50 against the fleet with one host down, and
# capture-pane reads the screen. Every line fits the width (-J joins what
# the terminal wrapped), title, summary and header show, hosts beyond the
# screen are announced, the down host stays in sight, P/M sort, / filters,
# a resize redraws, q, ^C and SIGTERM give the terminal back (the
# alternate screen left, echo and canonical mode on), colour follows
# NO_COLOR, and a pipe gets plain tables without escapes.
. "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || fail "tmux is not installed (deploy/install-deps installs it)"

n=$((FLEET_N < 21 ? FLEET_N : 21))
((n >= 12)) || fail "this test wants a fleet of 12 hosts or more (have $FLEET_N)"
hosts=$(for i in $(seq "$n"); do printf '%s,' "$(fleet_addr "$i")"; done)
down=$FLEET_NET.$((FLEET_N + 1)) # nothing listens there
hosts+=$down

cat >"$T/tmux.conf" <<'CONF'
set -g status off
set -g default-terminal screen
set -g remain-on-exit on
CONF
TM=(tmux -L "muster-top-$$" -f "$T/tmux.conf")
at_exit "${TM[*]} kill-server 2>/dev/null || true"

# The pane runs this: a marker on the normal screen, the live view, then
# its exit status and the terminal's modes, to see what it gave back.
{
	echo '#!/usr/bin/env bash'
	echo 'echo before-live-view'
	printf '%q ' "$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$hosts" --interval 1
	echo '"$@"'
	echo 'echo "exit=$?"'
	echo "stty -a | tr ' ;' '\n\n' | grep -xE -- '-?(icanon|echo)' | sort | tr '\n' ' '; echo"
	echo 'exec sleep 600'
} >"$T/run.sh"
chmod 755 "$T/run.sh"

cap() { "${TM[@]}" capture-pane -p -J -t "$1"; }

# check SESSION WHAT [ARG]: one look at the screen (check.py says what it
# wants); wait_for polls it until it holds.
cat >"$T/check.py" <<'PY'
import re, sys
what, width, text = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read()
arg = sys.argv[4] if len(sys.argv) > 4 else ""
lines = text.split("\n")
def need(cond, why):
    if not cond:
        print(why); sys.exit(1)
def table():
    """Header's column names and the host rows (first column a host)."""
    for i, l in enumerate(lines):
        if l.startswith("HOST "):
            cols = l.split()
            rows = []
            for r in lines[i + 1:]:
                f = r.split()
                if not f or not re.match(r"^\d+\.\d+\.\d+\.\d+$", f[0]):
                    break
                rows.append(dict(zip(cols, f)))
            return cols, rows
    need(False, "no header")
too_wide = [l for l in lines if len(l) > width]
need(not too_wide, "%d lines wider than %d: %r" % (len(too_wide), width, too_wide[:2]))
if what == "fits":  # arg: hosts up/total
    need(lines[0].startswith("muster watch"), "no title first")
    need(" %s up " % arg in lines[0], "title without %s up" % arg)
    need(re.search(r"^CPU [\d.]+% .*Mem [\d.]+% of [^ ]+  Load [\d.]+ avg", lines[1])
         if width >= 80 else lines[1].startswith("CPU "), "no summary")
    cols, rows = table()
    for c in ("CPU%", "MEM%", "LOAD1"):
        need(c in cols, "no %s column" % c)
    need(any(l.startswith("DOWN ") for l in lines), "no DOWN host")
    up, total = map(int, arg.split("/"))
    status = [l for l in lines if l.startswith("hosts 1-")]
    need(status, "no status line")
    need(len(rows) == up or "more below" in status[0],
         "%d of %d rows, no scroll indicator" % (len(rows), up))
elif what in ("sorted", "sorted-name"):  # arg: column
    cols, rows = table()
    need(len(rows) >= 2, "rows: %d" % len(rows))
    if what == "sorted-name":
        keys = [tuple(map(int, r["HOST"].split("."))) for r in rows]
        need(keys == sorted(keys), "not by name: %s" % [r["HOST"] for r in rows])
    else:
        need("sort %s " % arg.lower().rstrip("%") in lines[0], "title does not say the sort")
        vals = [float(r[arg]) for r in rows]
        need(vals == sorted(vals, reverse=True), "%s not descending: %s" % (arg, vals))
elif what == "filtered":  # arg: substring
    cols, rows = table()
    need(rows and all(arg in r["HOST"] for r in rows), "rows outside the filter: %s" % rows[:3])
    need("filter '%s'" % arg in lines[0], "title without the filter")
elif what == "rows":  # arg: count, all rows shown
    cols, rows = table()
    need(len(rows) == int(arg), "%d rows, wanted %s" % (len(rows), arg))
elif what == "wide":
    cols, rows = table()
    need("UPTIME" in cols and "NET-TX/s" in cols, "not the wide columns: %s" % cols)
elif what == "contains":
    need(arg in text, "no %r" % arg)
elif what == "restored":  # the normal screen is back; arg: exit status
    need("before-live-view" in text, "the normal screen's marker is gone")
    need(not any(l.startswith("muster watch ") for l in lines), "the live view is still on the screen")
    # 3: the down host never came up; anything else (an ASan report
    # went to the captured stderr, say) is a failure.
    need(re.search(r"^exit=\d+$", text, re.M), "no exit status")
    need(re.search(r"^exit=%s$" % arg, text, re.M), "exit status not %s" % arg)
    need(re.search(r"^echo icanon $", text, re.M), "terminal modes not restored: %s" % text[-200:])
else:
    need(False, "unknown check " + what)
PY
check() { # SESSION WIDTH WHAT [ARG]
	cap "$1" >"$T/screen.$1"
	python3 "$T/check.py" "$3" "$2" "$T/screen.$1" "${4:-}"
}
wait_for() { # SESSION WIDTH WHAT [ARG]: a minute at most (a loaded machine)
	local why end=$((SECONDS + 60 * SLOW))
	while ((SECONDS < end)); do
		why=$(check "$@") && return 0
		sleep 0.1
	done
	fail "$3 ${4:-} never held in a ${2}-column terminal: $why"$'\n'"$(cat "$T/screen.$1")"
}
keys() { "${TM[@]}" send-keys -t "$1" "${@:2}"; }

# --- 80x24: more hosts than lines ---
"${TM[@]}" new-session -d -s small -x 80 -y 24 "$T/run.sh"
wait_for small 80 fits "$n/$((n + 1))"
check small 80 contains "more below" >/dev/null || fail "$n hosts fit on 24 lines?"$'\n'"$(cat "$T/screen.small")"
check small 80 contains "DOWN $down since" >/dev/null || fail "the down host has no line"$'\n'"$(cat "$T/screen.small")"
check small 80 sorted-name || fail "not by name at first"
ok "80x24: lines fit, title, summary, header, scroll indicator, the down host"

keys small P
wait_for small 80 sorted CPU%
keys small M
wait_for small 80 sorted MEM%
keys small N
wait_for small 80 sorted-name
ok "P sorts by CPU, M by memory, N by name"

filter=$(fleet_addr 1) # .1 and .10 to .19 of the fleet
"${TM[@]}" send-keys -t small -l "/$filter"
wait_for small 80 filtered "$filter"
keys small Enter
keys small G
wait_for small 80 filtered "$filter"
keys small Escape
wait_for small 80 contains "hosts 1-"
check small 80 contains "filter '" >/dev/null && fail "Esc left the filter"$'\n'"$(cat "$T/screen.small")"
ok "/ filters the rows by host name, Esc clears it"

keys small G
wait_for small 80 contains "more above"
keys small g
wait_for small 80 contains "more below"
ok "scrolling reaches the last host and back"

"${TM[@]}" resize-window -t small -x 200 -y 50
wait_for small 200 wide
wait_for small 200 rows "$n"
"${TM[@]}" resize-window -t small -x 60 -y 12
wait_for small 60 fits "$n/$((n + 1))"
ok "a resize redraws at the new size (200x50: every host and every column; 60x12)"

keys small '?'
wait_for small 60 contains "any key closes the help"
keys small q
wait_for small 60 restored 3
ok "q quits with the terminal restored"

# --- 200x50 from the start, in colour; ^C ---
"${TM[@]}" new-session -d -s big -x 200 -y 50 "$T/run.sh"
wait_for big 200 fits "$n/$((n + 1))"
check big 200 rows "$n" || fail "every host fits on 50 lines"
check big 200 contains "more below" >/dev/null && fail "a scroll indicator with nothing to scroll"
"${TM[@]}" capture-pane -p -e -t big | grep "DOWN $down" | grep -q $'\e\\[[0-9;]*3[1-7]m' ||
	fail "no colour for the down host: $("${TM[@]}" capture-pane -p -e -t big | grep "DOWN" | od -c | head -5)"
keys big C-c
wait_for big 200 restored 3
ok "200x50: every host, colour, ^C restores the terminal"

# --- NO_COLOR; SIGTERM ---
"${TM[@]}" new-session -d -s plain -x 100 -y 30 -e NO_COLOR=1 "$T/run.sh"
wait_for plain 100 fits "$n/$((n + 1))"
"${TM[@]}" capture-pane -p -e -t plain | grep -q $'\e\\[[0-9;]*3[0-7]m' &&
	fail "colours despite NO_COLOR"
shell=$("${TM[@]}" display-message -p -t plain '#{pane_pid}')
pkill -TERM -P "$shell" -x muster
wait_for plain 100 restored 3
ok "NO_COLOR turns colour off; SIGTERM restores the terminal"

# --- a terminal curses cannot drive: plain tables, saying why ---
# (tmux sets TERM after -e: env sets it for muster alone.)
"${TM[@]}" new-session -d -s dumb -x 100 -y 30 \
	"$(printf '%q ' env TERM=dumb "$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1)" --interval 0.5 --duration $((600 * SLOW))) 2>$T/dumb.err"
# (A --duration far past the test: the pane, and what it shows, stays
# until the session is killed, however long the first sample takes.)
wait_for dumb 100 contains "(sorted by host)"
end=$((SECONDS + 60 * SLOW))
while ((SECONDS < end)); do [ -s "$T/dumb.err" ] && break; sleep 0.1; done
assert_contains "$(cat "$T/dumb.err")" "muster: live view: terminal type 'dumb' cannot move the cursor; printing tables" "TERM=dumb"
"${TM[@]}" kill-session -t dumb
ok "TERM=dumb: plain tables and a warning"

# --- not a terminal: plain tables, no curses ---
# A watch that ends by its --duration; on a machine so loaded that the
# window held no sample, a window twice as long, up to 96 s (x SLOW).
d=$(vg_pick 3 15)
while :; do
	"$MUSTER" watch "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1)" --interval 0.5 --duration "$d" >"$T/pipe" 2>"$T/err" ||
		fail "watch into a file: $(cat "$T/err")"
	grep -q '^HOST  *STATE  *CPU%' "$T/pipe" && break
	((d < 96 * SLOW)) || fail "no table in the file after a ${d} s watch: $(head -5 "$T/pipe")"
	d=$((d * 2))
done
grep -q $'\e' "$T/pipe" && fail "escape sequences in the file: $(head -3 "$T/pipe" | od -c | head)"
ok "into a file: plain tables, no escape sequences"

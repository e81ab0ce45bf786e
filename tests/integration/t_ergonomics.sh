#!/usr/bin/env bash
# Everyday ergonomics of `muster run`: per-host output files (--outdir,
# --errdir), stdin (/dev/null by default, --stdin fanned out to every
# host), --tty, and --become through sudo.
. "$(dirname "$0")/lib.sh"

n=$FLEET_N
[ "$n" -ge 20 ] || fail "the fixture fleet has $n hosts, need 20"
h1="$(fleet_user 1)@$(fleet_addr 1)"
h2="$(fleet_user 2)@$(fleet_addr 2)"

# --- --outdir / --errdir ------------------------------------------------------
# Each host's files hold exactly what --json reports for it.
cmd='echo "out of $USER"; echo "err of $USER" >&2; printf "no newline"; printf "\001\377" >&2'
"$MUSTER" run "${MUSTER_OPTS[@]}" --outdir "$T/o" --errdir "$T/e" --json -- "$cmd" >"$T/json" 2>"$T/err" ||
	fail "run with --outdir failed: $(cat "$T/err")"
python3 - "$T/json" "$T/o" "$T/e" "$n" <<'PY'
import base64, json, os, sys
mask = os.umask(0); os.umask(mask)
objs = [json.loads(l) for l in open(sys.argv[1])]
assert len(objs) == int(sys.argv[4]), len(objs)
for o in objs:
    for key, d in (("stdout", sys.argv[2]), ("stderr", sys.argv[3])):
        want = o[key].encode() if o[key] is not None else base64.b64decode(o[key + "_b64"])
        path = os.path.join(d, o["host"])
        got = open(path, "rb").read()
        assert got == want, (path, got, want)
        assert os.stat(path).st_mode & 0o777 == 0o644 & ~mask, oct(os.stat(path).st_mode)
assert sorted(os.listdir(sys.argv[2])) == sorted(o["host"] for o in objs)
PY
[ "$(stat -c %a "$T/o")" = 755 ] || fail "--outdir created with mode $(stat -c %a "$T/o")"
ok "--outdir/--errdir files match the --json output of $n hosts"

# Streamed (default) mode writes the same bytes; a symlink planted in the
# directory is not followed, and names are made safe.
rm "$T/o/$(fleet_addr 1)"
ln -s "$T/victim" "$T/o/$(fleet_addr 1)"
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1,$h2" --outdir "$T/o" -- 'seq 3' >"$T/out" 2>"$T/err"
rc=$?
set -e
[ ! -e "$T/victim" ] || fail "--outdir followed a symlink"
assert_eq 4 "$rc" "a file that cannot be written makes exit status 4"
assert_contains "$(cat "$T/err")" "--outdir: cannot open" "the symlink is reported"
seq 3 >"$T/want"
assert_file_eq "$T/want" "$T/o/$(fleet_addr 2)" "streamed output also in the file"
ok "--outdir: no symlink followed, streamed mode"

# --- stdin ---------------------------------------------------------------------
# By default the command's stdin is /dev/null: an interactive top ends at
# once instead of waiting for keys (the --timeout is only a backstop).
s=$(date +%s%N)
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" -t 20 -- 'top -n 1 >/dev/null 2>&1; cat; echo stdin-was-empty' \
	>"$T/out" 2>"$T/err" </dev/zero || fail "top without -b: $(cat "$T/err")"
ms=$((($(date +%s%N) - s) / 1000000))
assert_eq "$(fleet_addr 1): stdin-was-empty" "$(cat "$T/out")" "stdin is /dev/null by default"
((ms < 10000 * SLOW)) || fail "top without -b took $ms ms"
ok "top without -b ends promptly without --tty ($ms ms)"

# --stdin: the same bytes to 20 hosts (checksum on each), read once;
# a second command on each host stops reading early, and nobody stalls.
# (Under valgrind 1.5 MB: still more than a host's 1 MiB stdin window.)
insize=$(vg_pick 3000000 1500000)
head -c "$insize" /dev/urandom >"$T/in"
want=$(sha256sum <"$T/in" | cut -d' ' -f1)
"$MUSTER" run "${MUSTER_OPTS[@]}" --stdin --json -c 'sha256sum | cut -d" " -f1' -c 'head -c 10 | wc -c' \
	<"$T/in" >"$T/json" 2>"$T/err" || fail "--stdin failed: $(cat "$T/err")"
assert_eq "$n" "$(jq -r 'select(.command_index == 1) | .stdout' "$T/json" | grep -c "^$want\$")" "same bytes on every host"
assert_eq "$n" "$(jq -r 'select(.command_index == 2) | .stdout' "$T/json" | grep -c '^10$')" "early reader"
ok "--stdin delivers the same $((insize / 1000000)).$((insize / 100000 % 10)) MB to $n hosts, next to an early-closing reader"

# ~20 MB through a pipe to 10 hosts: the controller's memory stays bounded
# (the shared ring is 4 MiB, whatever the input size). ASan's allocator
# keeps freed memory, and valgrind's RSS is mostly its own, so RSS is only
# checked in a normal build. Under valgrind 6 MB, which still wraps the ring.
mb=$(vg_pick 20 6)
s=$(date +%s%N)
head -c $((mb * 1000000)) /dev/urandom | tee "$T/in" | command time -f '%M' -o "$T/rss" \
	"$MUSTER" run "${MUSTER_OPTS[@]}" -x "$FLEET_NET.[11-20]" --stdin -b -- 'sha256sum' \
	>"$T/out" 2>"$T/err" || fail "--stdin $mb MB failed: $(cat "$T/err")"
ms=$((($(date +%s%N) - s) / 1000000))
want=$(sha256sum <"$T/in" | cut -d' ' -f1)
assert_contains "$(cat "$T/out")" "(10)" "one output for the 10 hosts"
assert_contains "$(cat "$T/out")" "$want" "$mb MB checksum"
rss=$(cat "$T/rss")
echo "# --stdin $mb MB to 10 hosts: $ms ms, controller max RSS $rss KiB"
if ((UNDER_VALGRIND)); then
	echo "# RSS not checked: under valgrind"
# grep reads all of ldd's output: with -q it may exit first, and ldd's
# SIGPIPE would fail the pipeline (pipefail) and hide the ASan build.
elif ldd "$MUSTER" 2>/dev/null | grep libasan >/dev/null; then
	echo "# RSS not checked: ASan build"
else
	((rss < 100000)) || fail "controller RSS $rss KiB for $mb MB stdin"
fi
ok "--stdin with $mb MB"

# --- --tty --------------------------------------------------------------------
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" -- 'test -t 1 && echo tty || echo notty' >"$T/out"
assert_eq "$(fleet_addr 1): notty" "$(cat "$T/out")" "no terminal by default"
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" --tty -- 'test -t 0 && test -t 1 && echo tty; echo err >&2' >"$T/out" 2>"$T/err"
printf '%s: tty\n%s: err\n' "$(fleet_addr 1)" "$(fleet_addr 1)" >"$T/want"
assert_file_eq "$T/want" "$T/out" "--tty: a terminal, stderr in the one stream"
ok "--tty makes test -t 1 true remotely"

# --- --become -----------------------------------------------------------------
command -v sudo >/dev/null || fail "sudo is not installed (deploy/install-deps)"
u1=$(fleet_user 1)
drop=/etc/sudoers.d/muster-test-$u1
printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$u1" >"$T/sudoers"
visudo -cqf "$T/sudoers" || fail "sudoers drop-in does not validate"
install -m 0440 "$T/sudoers" "$drop"
at_exit "rm -f '$drop'"
set +e
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1,$h2" --become --json -- 'id -u' >"$T/json" 2>"$T/err"
rc=$?
set -e
assert_eq 3 "$rc" "a become failure gives exit status 3"
assert_eq "0" "$(jq -r "select(.host==\"$(fleet_addr 1)\") | .stdout" "$T/json" | tr -d '\n')" "--become runs as root"
assert_eq "ok" "$(jq -r "select(.host==\"$(fleet_addr 1)\") | .status" "$T/json")" "host with sudo rights"
assert_eq "become" "$(jq -r "select(.host==\"$(fleet_addr 2)\") | .status" "$T/json")" "host without sudo rights"
assert_contains "$(jq -r "select(.host==\"$(fleet_addr 2)\") | .error" "$T/json")" "sudo:" "sudo's message is the reason"
assert_eq "" "$(jq -r "select(.host==\"$(fleet_addr 2)\") | .stdout + .stderr" "$T/json")" "nothing ran there"
"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" --become-user "$(fleet_user 3)" -- 'id -un' >"$T/out"
assert_eq "$(fleet_addr 1): $(fleet_user 3)" "$(cat "$T/out")" "--become-user"
echo data | "$MUSTER" run "${MUSTER_OPTS[@]}" -w "$h1" --become --stdin --tty -- 'id -u; cat' >"$T/out"
printf '%s: 0\n%s: data\n' "$(fleet_addr 1)" "$(fleet_addr 1)" >"$T/want"
assert_file_eq "$T/want" "$T/out" "--become with --stdin and --tty"
ok "--become: root with NOPASSWD sudo, 'become' without sudo rights"

# push and pull --become: the agent itself runs as root (sudo -n), so a
# pushed file is root's and a root-only file can be pulled.
dest=/tmp/muster-become-push.$u1
at_exit "rm -f '$dest'"
echo pushed-as-root >"$T/rootfile"
set +e
"$MUSTER" push "${MUSTER_OPTS[@]}" -w "$h1,$h2" --become --mode 0600 --json --no-progress \
	"$T/rootfile" "$dest" >"$T/pj" 2>"$T/perr"
rc=$?
set -e
assert_eq 3 "$rc" "push --become with one host refusing"
assert_eq "root 600" "$(stat -c '%U %a' "$dest")" "pushed file is root's"
assert_file_eq "$T/rootfile" "$dest" "pushed content"
assert_contains "$(grep "\"$(fleet_addr 2)\"" "$T/pj")" '"become"' "push: host without sudo rights"
"$MUSTER" pull "${MUSTER_OPTS[@]}" -w "$h1" --become "$dest" "$T/pulled" >/dev/null
assert_file_eq "$T/rootfile" "$T/pulled/$(fleet_addr 1)/$(basename "$dest")" "pull --become of a root-only file"
ok "push and pull --become: files as root; 'become' without sudo rights"

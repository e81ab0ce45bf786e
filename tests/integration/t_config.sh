#!/usr/bin/env bash
# ssh_config is honoured (HostName, User, Port, IdentityFile); inventory
# users apply to -w hosts; keys init; encrypted keys.
. "$(dirname "$0")/lib.sh"

cat >"$T/ssh_config" <<CFG
Host webby
    HostName $(fleet_addr 4)
    User $(fleet_user 4)
    Port 22
    IdentityFile $KEY
CFG
# No -k: the key comes from IdentityFile (the default keys/ dir is absent here).
(cd "$T" && "$MUSTER" run -F "$T/ssh_config" --known-hosts "$KH" -w webby -- 'echo $USER') >"$T/out" 2>"$T/err" ||
	fail "ssh_config run failed: $(cat "$T/err")"
assert_eq "webby: $(fleet_user 4)" "$(cat "$T/out")" "HostName, User and IdentityFile from ssh_config"
ok "ssh_config honoured"

"$MUSTER" run "${MUSTER_OPTS[@]}" -w "$(fleet_addr 7)" -- 'echo $USER' >"$T/out"
assert_eq "$(fleet_addr 7): $(fleet_user 7)" "$(cat "$T/out")" "-w host takes user= from the inventory"
ok "inventory user for -w hosts"

# keys init: a new pair, 0600, never overwritten.
"$MUSTER" keys init -k "$T/newkey" >/dev/null
[ "$(stat -c %a "$T/newkey")" = 600 ] || fail "new private key mode $(stat -c %a "$T/newkey")"
grep -q '^ssh-ed25519 ' "$T/newkey.pub" || fail "no ed25519 public key"
set +e
"$MUSTER" keys init -k "$T/newkey" 2>"$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "keys init refuses to overwrite"
# Without -k: the user's config directory (made, private), whatever the
# current directory; a run then finds the key there by itself.
(cd "$T" && "$MUSTER" keys init >"$T/out") || fail "keys init without -k"
[ "$(stat -c %a "$XDG_CONFIG_HOME/muster/id_ed25519")" = 600 ] || fail "keys init did not write \$XDG_CONFIG_HOME/muster/id_ed25519"
[ "$(stat -c %a "$XDG_CONFIG_HOME/muster")" = 700 ] || fail "config directory not private"
[ ! -e "$T/keys" ] || fail "keys init wrote keys/ in the current directory"
(cd "$T" && HOME=$T/h XDG_CONFIG_HOME='' "$MUSTER" keys init >/dev/null) || fail "keys init with HOME only"
[ -f "$T/h/.config/muster/id_ed25519" ] || fail "keys init did not write ~/.config/muster/id_ed25519"
# The default key is the one a run uses: install the new public key on
# host 9 (a copy of its authorized_keys is put back after) and log in
# with no -k.
h9=$(fleet_home 9)
ak=$h9/.ssh/authorized_keys
if [ -w "$ak" ]; then
	cp "$ak" "$T/ak.saved"
	at_exit "cp '$T/ak.saved' '$ak'"
	cat "$XDG_CONFIG_HOME/muster/id_ed25519.pub" >>"$ak"
	out=$(cd / && "$MUSTER" run -F /dev/null --known-hosts "$KH" -i "$INV" -w "$(fleet_addr 9)" -- echo default-key) ||
		fail "run with the default key in ~/.config/muster"
	assert_eq "$(fleet_addr 9): default-key" "$out" "default identity from the config directory"
fi
ok "keys init"

# An encrypted key: passphrase from MUSTER_KEY_PASSPHRASE.
cp "$KEY" "$T/enc"; chmod 600 "$T/enc"
ssh-keygen -q -p -P '' -N 's3cret phrase' -f "$T/enc" >/dev/null
MUSTER_KEY_PASSPHRASE='s3cret phrase' "$MUSTER" run -k "$T/enc" -F /dev/null --known-hosts "$KH" -i "$INV" -w "$(fleet_addr 8)" -- true ||
	fail "encrypted key with the right passphrase"
set +e
MUSTER_KEY_PASSPHRASE=xyzzy-42 "$MUSTER" run -k "$T/enc" -F /dev/null --known-hosts "$KH" -i "$INV" -w "$(fleet_addr 8)" -- true 2>"$T/err" </dev/null; rc=$?
set -e
assert_eq 2 "$rc" "wrong passphrase is a usage error"
assert_contains "$(cat "$T/err")" "cannot load private key" "wrong passphrase message"
grep -q "xyzzy-42\|s3cret" "$T/err" && fail "passphrase leaked into the error output"
ok "encrypted key"

# ssh-agent: no -k, no keys/ dir, no default identities (HOME is empty).
agent_with "$KEY"
(cd "$T" && HOME="$T/emptyhome" "$MUSTER" run -F /dev/null --known-hosts "$KH" -i "$INV" -w "$(fleet_addr 9)" -- 'echo $USER') >"$T/out" 2>"$T/err" ||
	fail "ssh-agent authentication failed: $(cat "$T/err")"
assert_eq "$(fleet_addr 9): $(fleet_user 9)" "$(cat "$T/out")" "authenticated through ssh-agent"
ok "ssh-agent"

# Authentication over, a host holds no connection to the ssh-agent (on a
# relay each was a forwarded-agent channel, 256 at most per relay): the
# agent's open files while 6 hosts run a command that waits are what they
# were before.
base=$(ls "/proc/$SSH_AGENT_PID/fd" | wc -l)
chmod 755 "$T"
mkdir -m 1777 "$T/held"
hosts=$(for i in 1 2 3 4 5 6; do printf '%s@%s,' "$(fleet_user $i)" "$(fleet_addr $i)"; done)
(cd "$T" && HOME="$T/emptyhome" "$MUSTER" run -F /dev/null --known-hosts "$KH" -w "${hosts%,}" -- \
	"touch $T/held/\$(hostname)-\$\$; while [ ! -e $T/held/go ]; do sleep 0.1; done") >"$T/out" 2>"$T/err" &
held=$!
for _ in $(seq $((600 * SLOW))); do (($(ls "$T/held" | wc -l) >= 6)) && break; sleep 0.1; done
(($(ls "$T/held" | wc -l) >= 6)) || fail "the 6 commands did not start: $(cat "$T/err")"
during=$(ls "/proc/$SSH_AGENT_PID/fd" | wc -l)
touch "$T/held/go"
wait "$held" || fail "the held run failed: $(cat "$T/err")"
assert_eq "$base" "$during" "ssh-agent's open files while 6 authenticated hosts run"
ok "no ssh-agent connection held past authentication"

# Bad host lists and inventories say where.
set +e
"$MUSTER" run -w 'web[3-1]' -- true 2>"$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "bad range is a usage error"
assert_contains "$(cat "$T/err")" "reversed range" "range error message"
# A variable muster does not use is ignored, as Ansible's are, and
# listed with -v; one it uses with a bad value is a usage error.
printf '[web]\n%s user=x colour=blue\n' "$(fleet_addr 1)" >"$T/inv"
"$MUSTER" run -v -i "$T/inv" --list-hosts >"$T/out" 2>"$T/err" ||
	fail "an unused variable: $(cat "$T/err")"
assert_contains "$(cat "$T/err")" "colour" "an unused variable is listed at -v"
printf '[web]\n%s user=x port=blue\n' "$(fleet_addr 1)" >"$T/inv"
set +e
"$MUSTER" run -i "$T/inv" -- true 2>"$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "bad inventory is a usage error"
assert_contains "$(cat "$T/err")" "$T/inv:2" "inventory error names file and line"
ok "parse errors"

#!/usr/bin/env bash
# Host keys: unknown refused, --accept-new records, changed always refused.
# Client keys: a wrong key is refused; a key readable by others is refused.
. "$(dirname "$0")/lib.sh"

h1="$(fleet_user 1)@$(fleet_addr 1)"
opts=(-k "$KEY" -F /dev/null)

# Unknown host key.
: >"$T/kh"
set +e
"$MUSTER" run "${opts[@]}" --known-hosts "$T/kh" -w "$h1" --json -- touch ran-unknown >"$T/j" 2>"$T/err"; rc=$?
set -e
assert_eq 3 "$rc" "exit status for an unknown host key"
assert_contains "$(cat "$T/j")" '"status":"hostkey"' "status hostkey"
assert_contains "$(cat "$T/j")" "--accept-new" "message says how to accept"
[ -e "$(fleet_home 1)/ran-unknown" ] && fail "command ran on a host with an unknown key"
ok "unknown host key refused"

"$MUSTER" run "${opts[@]}" --known-hosts "$T/kh" --accept-new -w "$h1" -- true 2>"$T/err" ||
	fail "--accept-new failed: $(cat "$T/err")"
grep -q "^$(fleet_addr 1) ssh-ed25519 " "$T/kh" || fail "key not recorded: $(cat "$T/kh")"
"$MUSTER" run "${opts[@]}" --known-hosts "$T/kh" -w "$h1" -- true || fail "recorded key not accepted"
ok "--accept-new records the key"

# Changed host key: host 1's name with host 2's key.
key2=$(grep "^$(fleet_addr 2) " "$KH" | cut -d' ' -f2-)
echo "$(fleet_addr 1) $key2" >"$T/kh"
set +e
"$MUSTER" run "${opts[@]}" --known-hosts "$T/kh" --accept-new -w "$h1" --json -- touch ran-changed >"$T/j" 2>"$T/err"; rc=$?
set -e
assert_eq 3 "$rc" "exit status for a changed host key"
assert_contains "$(cat "$T/j")" "HOST KEY CHANGED" "changed key reported loudly"
[ -e "$(fleet_home 1)/ran-changed" ] && fail "command ran on a host with a changed key"
ok "changed host key refused even with --accept-new"

# Wrong client key.
ssh-keygen -q -t ed25519 -N '' -f "$T/wrong" >/dev/null
set +e
HOME="$T" "$MUSTER" run -k "$T/wrong" -F /dev/null --known-hosts "$KH" -w "$h1" --json -- true >"$T/j" 2>"$T/err"; rc=$?
set -e
assert_eq 3 "$rc" "exit status for a refused key"
assert_contains "$(cat "$T/j")" '"status":"auth"' "status auth"
ok "wrong client key refused"

# A private key readable by others is refused before anything connects.
cp "$KEY" "$T/open"; chmod 644 "$T/open"
set +e
"$MUSTER" run -k "$T/open" -F /dev/null --known-hosts "$KH" -w "$h1" -- true 2>"$T/err"; rc=$?
set -e
assert_eq 2 "$rc" "exit status for an unsafe key"
assert_contains "$(cat "$T/err")" "accessible by others" "unsafe key message"
ok "unsafe private key refused"

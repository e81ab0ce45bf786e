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

# Host and user names with quotes, blanks and command substitutions, from
# -w and from an inventory, never reach a shell: they are refused before a
# ProxyCommand could expand them (this one evaluates %n %r %h in a shell
# before it connects) and the bootstrap command interpolates only our own
# hash. Each such host fails on its own; the canary file is never made.
canary=$T/canary
h2="$(fleet_user 2)@$(fleet_addr 2)"
evil=(
	"o'x\$(touch \"$canary\")@$(fleet_addr 1)"
	"\"q\";touch\${IFS}$canary@$(fleet_addr 1)"
	"$(fleet_user 1)@\$(touch\${IFS}$canary)"
	"$(fleet_user 1)@\`touch\${IFS}$canary\`"
	"$(fleet_user 1)@h';touch\${IFS}$canary;'"
)
cat >"$T/evil.ini" <<INI
[evil]
x\$(touch\${IFS}$canary) user=$(fleet_user 1)
$(fleet_addr 1) user=a'b\$(touch\${IFS}$canary)
INI
printf 'Host *\n  ProxyCommand : %%n %%r %%h; exec socat - TCP:%%h:%%p\n' >"$T/proxy.cfg"
for w in "${evil[@]}"; do
	set +e
	"$MUSTER" run -k "$KEY" -F "$T/proxy.cfg" --known-hosts "$KH" --connect-timeout 5 --json \
		-w "$w" -w "$h2" -- echo ran >"$T/j" 2>"$T/err"; rc=$?
	set -e
	[[ -e $canary ]] && fail "a name reached a shell: $w"
	# Refused by the parser (2), or that one host failed (3).
	[[ $rc == 2 || $rc == 3 ]] || fail "exit status $rc for $w: $(cat "$T/err")"
	if ((rc == 3)); then
		assert_contains "$(cat "$T/j")" "\"host\":\"$(fleet_addr 2)\",\"status\":\"ok\"" "the good host ran next to $w"
	fi
done
set +e
"$MUSTER" run -k "$KEY" -F /dev/null --known-hosts "$KH" --connect-timeout 5 --json -i "$T/evil.ini" -- echo ran >"$T/j" 2>"$T/err"; rc=$?
set -e
[[ -e $canary ]] && fail "a name from an inventory reached a shell"
[[ $rc == 2 || $rc == 3 ]] || fail "exit status $rc for the inventory: $(cat "$T/err")"
assert_eq 0 "$(grep -c '"status":"ok"' "$T/j" || true)" "no host with an odd name ran"
ok "host and user names with quotes, blanks and \$() never reach a shell"

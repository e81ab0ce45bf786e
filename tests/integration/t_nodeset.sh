#!/usr/bin/env bash
# Host expressions as ClusterShell's nodeset reads them: each expression of
# tests/integration/inventory/nodeset.table expands (muster --list-hosts)
# to the hosts `nodeset -e` gives (live when ClusterShell is installed,
# else its committed output, which must then still match); characters no
# host name may hold are usage errors, IPv6 takes a port in brackets, and
# host files work as pdsh's -w ^FILE.
. "$(dirname "$0")/lib.sh"

D=$SRC/tests/integration/inventory
have_nodeset=0
command -v nodeset >/dev/null && have_nodeset=1
names() { "$MUSTER" run --list-hosts -F /dev/null "$@" -- true | tail -n +2 | cut -f1 | sort | paste -sd' '; }

count=0
while IFS=$'\t' read -r expr want; do
	if ((have_nodeset)); then
		live=$(nodeset -e -S ' ' "$expr" | tr ' ' '\n' | sort | paste -sd' ')
		assert_eq "$want" "$live" "nodeset.expected is stale for '$expr' (run regen)"
	fi
	got=$(names -w "$expr") || fail "muster refused '$expr'"
	assert_eq "$want" "$got" "'$expr'"
	count=$((count + 1))
done <"$D/nodeset.expected"
((count >= 15)) || fail "only $count expressions in the table"
((have_nodeset)) || echo "# nodeset not installed: compared with the committed output only"
ok "$count nodeset expressions expand as ClusterShell's nodeset -e"

# Characters that cannot be in a host name: usage errors naming the place,
# never part of a name.
for bad in 'a;b' 'a b$c' 'web[1-3]|x' 'h(1)' 'a,,b' 'a!' '!a' 'a[1-3' 'n[1-5/0]'; do
	rc=0
	"$MUSTER" run --list-hosts -F /dev/null -w "$bad" -- true >"$T/out" 2>"$T/err" || rc=$?
	assert_eq 2 "$rc" "'$bad' is a usage error"
	assert_contains "$(cat "$T/err")" "position" "'$bad': the error names the position"
	[ -s "$T/out" ] && fail "'$bad' listed hosts: $(cat "$T/out")"
done
rc=0
"$MUSTER" run --list-hosts -F /dev/null -w '@web' -- true 2>"$T/err" || rc=$?
assert_eq 2 "$rc" "@group without an inventory"
assert_contains "$(cat "$T/err")" "needs an inventory" "@group without -i says so"
ok "bad expressions are usage errors with a position"

# IPv6 with a port, as ssh_config and known_hosts write it.
"$MUSTER" run --list-hosts -F /dev/null -w 'alice@[::1]:2207,[fe80::2]' -- true >"$T/out"
assert_eq "$(printf '::1\talice\t::1\t2207\tdirect')" "$(sed -n 2p "$T/out")" "user@[::1]:2207"
assert_contains "$(sed -n 3p "$T/out")" "$(printf 'fe80::2\t')" "[fe80::2] without a port"
ok "IPv6 literals with a port"

# Host files: -w ^FILE (pdsh) and --hostfile, with comments and blanks.
printf '# web tier\nweb[1-3]\n\n  db1  \nweb[1-3]!web2\n' >"$T/hosts"
assert_eq "db1 web1 web2 web3" "$(names -w "^$T/hosts")" "-w ^FILE"
assert_eq "db1 web1 web2 web3 x" "$(names --hostfile "$T/hosts" -w x)" "--hostfile with -w"
printf 'ok1\nbad;name\n' >"$T/badhosts"
rc=0
"$MUSTER" run --list-hosts -F /dev/null --hostfile "$T/badhosts" -- true 2>"$T/err" || rc=$?
assert_eq 2 "$rc" "a bad host file line is a usage error"
assert_contains "$(cat "$T/err")" "badhosts:2:" "host file error names file:line"
ok "host files"

# The fleet through an expression with operators: the hosts it leaves out
# are not contacted.
"$MUSTER" run --known-hosts "$KH" -k "$KEY" -F /dev/null -w "$(fleet_user 1)@$(fleet_addr 1),$(fleet_user 4)@$(fleet_addr 4),$(fleet_user 2)@$(fleet_addr 2)!$(fleet_addr 2)" -- echo hi >"$T/out" 2>"$T/err" ||
	fail "run with operators: $(cat "$T/err")"
assert_eq "$(fleet_addr 1): hi
$(fleet_addr 4): hi" "$(sort "$T/out")" "difference on the fleet"
ok "a run on the fleet through an expression with '!'"

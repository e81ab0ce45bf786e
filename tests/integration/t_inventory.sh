#!/usr/bin/env bash
# Ansible inventories as Ansible reads them: every host's user, address
# and port from muster --list-hosts equal what `ansible-inventory --list`
# (ansible-core) resolves, for INI and YAML, every group; then a command
# run on the real fleet through an INI and a YAML inventory; then the
# errors and the -v listing of variables muster does not use.
. "$(dirname "$0")/lib.sh"

D=$SRC/tests/integration/inventory
me=$(id -un)

# --- cross-check with ansible-inventory ---------------------------------
have_ansible=0
command -v ansible-inventory >/dev/null && have_ansible=1
for inv in "$D"/*.ini "$D"/*.yml; do
	name=$(basename "$inv")
	json=$inv.json
	if ((have_ansible)); then
		# The committed expectation must still be what Ansible says.
		ANSIBLE_INVENTORY_UNPARSED_WARNING=0 ansible-inventory -i "$inv" --list >"$T/$name.json" 2>"$T/ansible.err" ||
			fail "ansible-inventory $name: $(cat "$T/ansible.err")"
		python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
			"$T/$name.json" "$json" || fail "$name.json is stale: run tests/integration/inventory/regen"
	fi
	groups=$(python3 -c 'import json,sys; print(" ".join(k for k in json.load(open(sys.argv[1])) if k not in ("_meta", "ungrouped")))' "$json")
	for g in $groups; do
		gopt=()
		[ "$g" = all ] || gopt=(-g "$g")
		"$MUSTER" run --list-hosts -F /dev/null -i "$inv" "${gopt[@]}" -- true >"$T/list" 2>"$T/err" ||
			fail "$name -g $g: $(cat "$T/err")"
		python3 "$D/compare.py" "$json" "$me" "$g" "$T/list" >"$T/diff" ||
			fail "$name, group $g differs from ansible-inventory: $(cat "$T/diff")"
	done
	ok "$name: every group as ansible-inventory resolves it ($groups)"
done
((have_ansible)) || echo "# ansible-inventory not installed: compared with the committed output only"

# INI and YAML forms of one inventory select the same hosts the same way.
for base in precedence ranges; do
	"$MUSTER" run --list-hosts -F /dev/null -i "$D/$base.ini" -- true | sort >"$T/ini"
	"$MUSTER" run --list-hosts -F /dev/null -i "$D/$base.yml" -- true | sort >"$T/yml"
	assert_file_eq "$T/ini" "$T/yml" "$base: INI and YAML agree"
done
ok "INI and YAML forms agree"

# --- a command through Ansible inventories, on the real fleet -------------
# Aliases for the hosts (ansible_host), the user from [all:vars], the port
# from a group's vars, one host's user from its own line.
n=4
{
	echo "# made by t_inventory"
	for i in 1 2 3; do echo "box$i ansible_host=$(fleet_addr "$i")"; done
	echo "[special]"
	echo "box4 ansible_ssh_host=$(fleet_addr 4) ansible_ssh_user=$(fleet_user 4)"
	echo "[fleet:children]"
	echo "special"
	echo "[fleet:vars]"
	echo "ansible_port=$FLEET_PORT"
	echo "[all:vars]"
	echo "ansible_user=${FLEET_USER_PREFIX}NOBODY"
	echo "ansible_port=$FLEET_PORT"
	echo "become_method=sudo"
} >"$T/fleet.ini"
# Per-host users need per-host lines: ansible_user on each host.
sed -i "s/^box\([123]\) ansible_host=\(.*\)$/box\1 ansible_host=\2 ansible_user=${FLEET_USER_PREFIX}\1/" "$T/fleet.ini"
{
	echo "all:"
	echo "  vars:"
	echo "    ansible_port: $FLEET_PORT"
	echo "    become_method: sudo"
	echo "  hosts:"
	for i in 1 2 3; do
		echo "    box$i:"
		echo "      ansible_host: $(fleet_addr "$i")"
		echo "      ansible_user: $(fleet_user "$i")"
	done
	echo "  children:"
	echo "    special:"
	echo "      hosts:"
	echo "        box4:"
	echo "          ansible_ssh_host: $(fleet_addr 4)"
	echo "          ansible_ssh_user: $(fleet_user 4)"
} >"$T/fleet.yml"
for inv in "$T/fleet.ini" "$T/fleet.yml"; do
	"$MUSTER" run -i "$inv" --known-hosts "$KH" -k "$KEY" -F /dev/null -- echo hi '$USER' >"$T/out" 2>"$T/err" ||
		fail "$(basename "$inv"): run failed: $(cat "$T/err")"
	for i in $(seq 1 $n); do
		grep -qx "box$i: hi $(fleet_user "$i")" "$T/out" ||
			fail "$(basename "$inv"): box$i: $(cat "$T/out")"
	done
	assert_eq "$n" "$(wc -l <"$T/out")" "$(basename "$inv"): one line per host"
	"$MUSTER" run -i "$inv" --known-hosts "$KH" -k "$KEY" -F /dev/null -w '@special,box1' -- echo hi >"$T/out" 2>"$T/err" ||
		fail "$(basename "$inv"): @special: $(cat "$T/err")"
	assert_eq "box1: hi
box4: hi" "$(sort "$T/out")" "$(basename "$inv"): -w @group,host"
	ok "$(basename "$inv"): a command on $n fleet hosts through aliases, users and ports from the inventory"
done

# --- -v names what muster does not use; errors name the file and line -----
"$MUSTER" run -v --list-hosts -F /dev/null -i "$T/fleet.ini" -- true >/dev/null 2>"$T/err"
line=$(grep -n '^become_method' "$T/fleet.ini" | cut -d: -f1)
assert_contains "$(cat "$T/err")" "fleet.ini:$line: become_method: not used by muster" "-v lists unused variables"
printf '[g]\nh1\n[g:vars]\nansible_port=99999\n' >"$T/bad.ini"
rc=0
"$MUSTER" run --list-hosts -i "$T/bad.ini" -- true 2>"$T/err" || rc=$?
assert_eq 2 "$rc" "a bad port is a usage error"
assert_contains "$(cat "$T/err")" "bad.ini:4: bad port '99999' for ansible_port" "bad port names file:line"
printf 'all:\n  hosts:\n    h1:\n  chilren:\n    g:\n' >"$T/bad.yml"
rc=0
"$MUSTER" run --list-hosts -i "$T/bad.yml" -- true 2>"$T/err" || rc=$?
assert_eq 2 "$rc" "a misspelt YAML key is an error"
assert_contains "$(cat "$T/err")" "bad.yml:4: unknown key 'chilren' in group 'all'" "YAML error names file:line"
printf 'h1 ansible_ssh_private_key_file=/nonexistent/key\n' >"$T/key.ini"
rc=0
"$MUSTER" run -k "$KEY" --list-hosts -i "$T/key.ini" -- true 2>"$T/err" || rc=$?
assert_eq 2 "$rc" "another per-host key is refused"
assert_contains "$(cat "$T/err")" "key.ini:1 (ansible_ssh_private_key_file): /nonexistent/key" "per-host key error names file:line"
printf 'h1 ansible_ssh_private_key_file=%s\n' "$KEY" >"$T/key.ini"
"$MUSTER" run -k "$KEY" --list-hosts -i "$T/key.ini" -- true >/dev/null 2>"$T/err" ||
	fail "the run's own key as a per-host key: $(cat "$T/err")"
ok "errors name the file and line; unused variables listed at -v; per-host keys never dropped"

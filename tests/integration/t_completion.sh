#!/usr/bin/env bash
# Bash completion (deploy/muster.bash-completion): subcommands, options per
# subcommand, inventory groups for -g and hosts for -w, from -i or
# $MUSTER_INVENTORY. Calls the completion function as bash would.
. "$(dirname "$0")/lib.sh"
# shellcheck source=../../deploy/muster.bash-completion
. "$SRC/deploy/muster.bash-completion"

# comp WORD...: complete the last word; prints the candidates sorted.
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	_muster
	((${#COMPREPLY[@]} == 0)) || printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort
}
words() { tr '\n' ' ' | sed 's/ $//'; }

[[ $(complete -p muster) == *"-F _muster"* ]] || fail "no completion registered for muster"
assert_eq "daemon help keys pull push run version watch" "$(comp muster '' | words)" "subcommands"
assert_eq "pull push" "$(comp muster pu | words)" "subcommand prefix"
assert_eq "init install" "$(comp muster keys '' | words)" "keys subcommands"
assert_eq "keys" "$(comp muster help k | words)" "help topics"
ok "subcommands"

assert_eq "--live-gather" "$(comp muster run --liv | words)" "run option"
assert_eq "--list-hosts" "$(comp muster push --lis | words)" "--list-hosts"
assert_eq "--mkdir" "$(comp muster push -w h --mk | words)" "push option"
assert_eq "--mode" "$(comp muster push -r --mo | words)" "push option"
assert_eq "--password-file" "$(comp muster keys install --pa | words)" "keys install option"
assert_eq "" "$(comp muster pull --mkd | words)" "no push-only option for pull"
assert_eq "--status --stop" "$(comp muster daemon --st | words)" "daemon options"
assert_eq "cpu" "$(comp muster watch --sort c | words)" "--sort values"
assert_eq "" "$(comp muster run -t '' | words)" "no guess for a number"
ok "options per subcommand"

cat >"$T/inv" <<'EOF'
# test inventory
[web]
web[01-03] user=deploy
web9 ; old box
[db]
db1 port=2222

[prod:children]
web
db
EOF
assert_eq "all db prod web" "$(comp muster run -i "$T/inv" -g '' | words)" "groups from -i"
assert_eq "prod" "$(comp muster push --inventory "$T/inv" -g p | words)" "group prefix"
assert_eq "db1 web9 web[01-03]" "$(comp muster run -i "$T/inv" -w '' | words)" "hosts from -i, not children"
assert_eq "db1,web9 db1,web[01-03]" "$(comp muster run -i "$T/inv" -x db1,we | words)" "last item of a list"
assert_eq "all even fleet odd" "$(MUSTER_INVENTORY=$INV comp muster watch -g '' | words)" "groups from \$MUSTER_INVENTORY"
assert_contains "$(MUSTER_INVENTORY=$INV comp muster run -w "$FLEET_NET.1" | words)" "$FLEET_NET.1 $FLEET_NET.10" "fleet hosts"
assert_eq "" "$(MUSTER_INVENTORY= comp muster run -g '' | words)" "no inventory, no groups"
assert_eq "@all @db @prod @web" "$(comp muster run -i "$T/inv" -w '@' | words)" "@group for -w"
assert_eq "a,@prod" "$(comp muster run -i "$T/inv" -x 'a,@p' | words)" "@group after a comma in -x"
ok "groups and hosts from the inventory"

# [group:vars] lines are not hosts; a quote in a host name breaks nothing;
# --inventory=FILE is read; @group completes groups; --rerun, -o values.
cat >"$T/inv2" <<'EOF'
[web]
web1
o'brien
[web:vars]
ansible_user=deploy
[all:vars]
port=2222
EOF
assert_eq "o'brien web1" "$(comp muster run -i "$T/inv2" -w '' | words)" "no key=value of :vars as hosts; a quote is fine"
assert_eq "web1" "$(comp muster run --inventory="$T/inv2" -w w | words)" "--inventory=FILE is read"
assert_eq "@web" "$(comp muster run -i "$T/inv2" -w @w | words)" "@group in -w"
assert_eq "web1,@all" "$(comp muster run -i "$T/inv2" -w web1,@a | words)" "@group as a later item"
assert_eq "--inventory=$T/inv2" "$(comp muster run --inventory="$T/inv2" | words)" "a file after --inventory="
assert_eq "failed,notok" "$(comp muster run --rerun failed,no | words)" "--rerun statuses"
assert_eq "Port=" "$(comp muster run -o Po | words)" "-o option names"
assert_eq "--become --become-user" "$(comp muster push --beco | words)" "push offers --become"
assert_eq "--become --become-user" "$(comp muster pull --beco | words)" "pull offers --become"
ok "completion fixes: vars, quotes, --opt=value, @group, --rerun, -o"

# After --, a command name.
assert_contains "$(comp muster run -w h -- unam | words)" "uname" "command after --"
ok "command after --"

# Every long option of the usage text is offered for some subcommand.
mapfile -t longs < <("$MUSTER" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
for o in "${longs[@]}"; do
	grep -q -- "$o\b" "$SRC/deploy/muster.bash-completion" || fail "completion lacks $o"
done
ok "all ${#longs[@]} long options of the usage text are completed"

# Each subcommand is offered exactly the long options its --help (made
# from controller/clitab.c) lists: one it refuses is never offered, one it
# takes never missing. --status, --stop and --foreground are in the
# daemon's usage line or man page only; --help is everyone's.
for sub in run push pull watch daemon "keys install" "keys init"; do
	# shellcheck disable=SC2086 # "keys install" is two words
	offered=$(comp muster $sub - | { grep -- '^--' || true; } | { grep -vx -- '--help' || true; } | words)
	# shellcheck disable=SC2086
	listed=$("$MUSTER" $sub --help | sed -n '/^ *-/p' | { grep -o -- '--[a-z][a-z-]*' || true; } | LC_ALL=C sort -u | words)
	if [[ $sub == daemon ]]; then
		# shellcheck disable=SC2086 # one word per option
		listed=$(printf '%s\n' $listed --foreground --status --stop | LC_ALL=C sort | words)
	fi
	assert_eq "$listed" "$offered" "completion of muster $sub agrees with its --help"
done
ok "completion offers each subcommand its own options"

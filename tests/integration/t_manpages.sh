#!/usr/bin/env bash
# The manual pages: clean for groff and man, consistent with the usage
# text in both directions, installed by `cmake --install` with the bash
# completion, and shown by `muster help SUBCOMMAND` on a terminal.
. "$(dirname "$0")/lib.sh"

pages=(muster muster-run muster-push muster-pull muster-watch muster-keys muster-daemon)
for p in "${pages[@]}"; do
	f=$SRC/man/$p.1
	[[ -r $f ]] || fail "missing $f"
	w=$(groff -ww -z -man "$f" 2>&1) || fail "groff failed on $p.1: $w"
	[[ -z $w ]] || fail "groff warnings in $p.1: $w"
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null) || fail "man failed on $p.1: $w"
	[[ -z $w ]] || fail "man warnings in $p.1: $w"
done
ok "${#pages[@]} pages without groff or man warnings"

usage=$("$MUSTER" --help)
mapfile -t longs < <(grep -o -- '--[a-z][a-z-]*' <<<"$usage" | sort -u)
for o in "${longs[@]}"; do
	grep -q -- "${o//-/\\\\-}\b" "$SRC"/man/*.1 || fail "no man page documents $o"
done
# Options only the daemon's page explains beyond its usage line.
mapfile -t documented < <(grep -oh -- '\\-\\-[a-z][a-z-]*' "$SRC"/man/*.1 | sed 's/\\//g' | sort -u)
for o in "${documented[@]}"; do
	case $o in --foreground | --help) continue ;; esac
	grep -q -- "$o\b" <<<"$usage" || fail "man pages document $o, which the usage text does not know"
done
ok "man pages and usage text agree (${#longs[@]} options)"

# Defaults are said once, in the code: each man page that gives an
# option's default gives the one --help (made from controller/clitab.c,
# whose texts take the code's constants) gives.
n=0
while IFS=$'\t' read -r opt def; do
	for f in "$SRC"/man/*.1; do
		# The option's paragraph: from its .TP heading to the next one.
		para=$(awk -v o="${opt//-/\\\\-}" '
			/^\.(TP|SH|SS)/ { inside = 0 }
			inside { print }
			/^\.B[IR]? / && index($0, o " ") && prev ~ /^\.TP/ { inside = 1 }
			{ prev = $0 }' "$f")
		mdef=$(grep -o 'default [0-9][0-9.]*' <<<"$para" | head -1 | sed 's/default //') || true
		[[ -z $mdef || $mdef == "$def" ]] ||
			fail "$(basename "$f"): $opt default $mdef, --help says $def"
		[[ -n $mdef ]] && n=$((n + 1))
	done
done < <("$MUSTER" --help | sed -n 's/^ *\(-., \)\{0,1\}\(--[a-z-]*\) .*(default \([0-9][0-9.]*\).*/\2\t\3/p')
((n > 0)) || fail "no default found in the man pages to compare"
ok "defaults in the man pages agree with --help ($n checked)"

[[ -r $BUILD_DIR/CMakeCache.txt ]] || fail "no build directory at $BUILD_DIR"
cmake --install "$BUILD_DIR" --prefix "$T/inst" >/dev/null || fail "cmake --install failed"
for p in "${pages[@]}"; do
	[[ -r $T/inst/share/man/man1/$p.1 ]] || fail "$p.1 not installed"
done
[[ -r $T/inst/share/bash-completion/completions/muster ]] || fail "bash completion not installed"
[[ -x $T/inst/bin/muster && -x $T/inst/libexec/muster/muster-agent ]] || fail "binaries not installed"
ok "cmake --install: binaries, man pages, completion"

# Not a terminal: the usage text. A terminal: the installed page.
out=$("$T/inst/bin/muster" help run)
assert_contains "$out" "usage: muster run" "help without a terminal"
if command -v script >/dev/null; then
	out=$(MANPAGER=cat PAGER=cat MANWIDTH=80 script -qec "$T/inst/bin/muster help keys" /dev/null </dev/null)
	assert_contains "$out" "MUSTER-KEYS(1)" "help on a terminal shows the page"
	assert_contains "$out" "install it on hosts" "the keys page"
fi
set +e
"$MUSTER" help nosuch 2>"$T/err"
rc=$?
set -e
assert_eq 2 "$rc" "help for an unknown subcommand"
ok "muster help"

# shellcheck shell=bash
# Helpers for the integration tests tests/integration/t_*.sh. Source it:
#
#   . "$(dirname "$0")/lib.sh"
#   out=$("$MUSTER" "${MUSTER_OPTS[@]}" -w "$(fleet_addr 1)" run -- id -un)
#   assert_eq "$(fleet_user 1)" "$out" "runs as the host's user"
#   ok "id on one host"
#
# The fleet is the one the ctest fixture started (tests/integration/
# fleet-fixture) in $MUSTER_FLEET_DIR. Provides:
#   FLEET_DIR INV KH KEY      fleet state dir, inventory, known_hosts, client key
#   FLEET_N FLEET_NET FLEET_PORT FLEET_USER_PREFIX   the fleet's shape
#   MUSTER SRC T              controller binary, source dir, per-test temp dir
#   BUILD_DIR                 the build directory ($MUSTER_BUILD_DIR, or the
#                             parent of $MUSTER_BIN)
#   UNDER_VALGRIND SLOW       1 and 10 when tests/valgrind runs the controller
#                             under memcheck (MUSTER_UNDER_VALGRIND=1), else
#                             0 and 1: see "valgrind" below
#   vg_pick NORMAL SMALLER    NORMAL, or SMALLER under valgrind
#   MUSTER_OPTS               array: default muster options for the fleet
#   fleet_addr|fleet_user|fleet_home|fleet_pid I   host I's address, user,
#                             home, sshd listener pid
#   fleet_stop|fleet_cont|fleet_kill|fleet_start I  signal/restart host I; on
#                             exit a stopped host is continued and a killed
#                             one restarted, so a failing test leaves the
#                             fleet whole
#   fail MSG, ok MSG, assert_eq EXPECTED ACTUAL MSG,
#   assert_contains HAYSTACK NEEDLE MSG, assert_file_eq F1 F2 MSG
#   at_exit CMD               run CMD (a string, eval'd) when the test exits
# fail only ends the test when called in the test's own shell, not inside
# $(...) or a pipeline.

set -euo pipefail

SRC=${MUSTER_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
# MUSTER_TEST_FLEET_DIR wins over the fleet ctest names: tests/run gives a
# second shard of the scripts a fleet of its own in the same build.
FLEET_DIR=${MUSTER_TEST_FLEET_DIR:-${MUSTER_FLEET_DIR:-$SRC/build/test-fleet}}
MUSTER=${MUSTER_BIN:-$SRC/build/bin}/muster
LOCAL_FLEET=$SRC/deploy/local-fleet
# tests/valgrind points MUSTER_BIN at a directory of wrappers, not the build.
BUILD_DIR=${MUSTER_BUILD_DIR:-$(dirname "$(dirname "$MUSTER")")}

# --- valgrind ----------------------------------------------------------------------
# Under tests/valgrind every controller run is under memcheck: some 10 to 30
# times slower, with valgrind's own memory in its RSS. Scripts relax only
# what that changes: wall-time bounds and wait loops grow by SLOW, RSS
# limits are not checked (saying so), and big transfers shrink with vg_pick
# (memcheck checks how memory is used, not throughput), staying larger than
# the frame, window, ring or cache they are there to overflow.
# shellcheck disable=SC2034 # used by the scripts that source this file
UNDER_VALGRIND=0 SLOW=1
# shellcheck disable=SC2034
if [[ ${MUSTER_UNDER_VALGRIND:-0} == 1 ]]; then
	UNDER_VALGRIND=1 SLOW=10
fi
vg_pick() {
	if ((UNDER_VALGRIND)); then echo "$2"; else echo "$1"; fi
}

fail() {
	echo "FAIL: $*" >&2
	_LIB_FAILED=1
	exit 1
}

ok() {
	echo "ok - $*"
}

# --- the fleet -------------------------------------------------------------------
[[ -r $FLEET_DIR/fleet.env ]] ||
	fail "no fleet in $FLEET_DIR (run the fixture: tests/integration/fleet-fixture up)"
FLEET_NET='' FLEET_PORT='' FLEET_USER_PREFIX='' FLEET_N='' KEY=''
while IFS='=' read -r _k _v; do
	case $_k in
	NET) FLEET_NET=$_v ;;
	PORT) FLEET_PORT=$_v ;;
	USER_PREFIX) FLEET_USER_PREFIX=$_v ;;
	N) FLEET_N=$_v ;;
	CLIENT_KEY) KEY=$_v ;;
	esac
done <"$FLEET_DIR/fleet.env"
unset _k _v
INV=$FLEET_DIR/inventory
KH=$FLEET_DIR/known_hosts
export FLEET_DIR INV KH KEY MUSTER SRC BUILD_DIR FLEET_N FLEET_NET FLEET_PORT FLEET_USER_PREFIX

# Bash cannot export an array to child processes; scripts that source this
# file use it as "${MUSTER_OPTS[@]}".
# shellcheck disable=SC2034
MUSTER_OPTS=(-i "$INV" --known-hosts "$KH" -k "$KEY" -F /dev/null)

T=$(mktemp -d "${TMPDIR:-/tmp}/muster-test.XXXXXX")
export T
# Tests connect directly unless they start their own daemon: one the
# developer runs must not change what a test sees.
export MUSTER_DAEMON_SOCKET=$T/no-daemon.sock
# Nor the developer's config file, key or last run: each test has its own
# (empty) config and cache directories.
export XDG_CONFIG_HOME=$T/xdg-config XDG_CACHE_HOME=$T/xdg-cache
unset MUSTER_CONFIG

_check_host() {
	if ! [[ $1 =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > FLEET_N)); then
		fail "host '$1' is not in the fleet (1..$FLEET_N)"
	fi
}

fleet_addr() { _check_host "$1"; echo "$FLEET_NET.$1"; }
fleet_user() { _check_host "$1"; echo "$FLEET_USER_PREFIX$1"; }
fleet_home() {
	_check_host "$1"
	getent passwd "$FLEET_USER_PREFIX$1" | cut -d: -f6
}
fleet_pid() {
	local f=$FLEET_DIR/hosts/$FLEET_NET.$1/sshd.pid
	_check_host "$1"
	[[ -r $f ]] || fail "host $1 has no sshd.pid"
	cat "$f"
}

# freeport ADDR: a TCP port free on ADDR now, below the kernel's ephemeral
# range (ip_local_port_range starts at 32768 here): a port the kernel hands
# out for bind(0) or an outgoing connection could be taken by any other
# process, a test next to this one included, before ours listens on it.
freeport() {
	python3 -c '
import random, socket, sys
for _ in range(1000):
    p = random.randint(20000, 32767)
    s = socket.socket()
    try:
        s.bind((sys.argv[1], p))
    except OSError:
        continue
    print(p)
    sys.exit(0)
sys.exit("no free port in 20000-32767")' "$1"
}

# Hosts this test stopped or killed, to put back on exit.
declare -A _LIB_STOPPED=() _LIB_KILLED=()

_local_fleet() {
	MUSTER_FLEET_DIR=$FLEET_DIR "$LOCAL_FLEET" "$@" >&2
}
fleet_stop() {
	_check_host "$1"
	_LIB_STOPPED[$1]=1
	_local_fleet stop "$1"
}
fleet_cont() {
	_check_host "$1"
	_local_fleet cont "$1"
	unset "_LIB_STOPPED[$1]"
}
fleet_kill() {
	_check_host "$1"
	_LIB_KILLED[$1]=1
	_local_fleet kill "$1"
	unset "_LIB_STOPPED[$1]"
}
fleet_start() {
	_check_host "$1"
	_local_fleet start "$1"
	unset "_LIB_KILLED[$1]"
}

# --- assertions -------------------------------------------------------------------------
assert_eq() {
	[[ $1 == "$2" ]] || fail "$3"$'\n'"  expected: $1"$'\n'"  actual:   $2"
}

assert_contains() {
	[[ $1 == *"$2"* ]] || fail "$3"$'\n'"  wanted:    $2"$'\n'"  in output: ${1:0:2000}"
}

assert_file_eq() {
	[[ -e $1 ]] || fail "$3: $1 does not exist"
	[[ -e $2 ]] || fail "$3: $2 does not exist"
	cmp -s -- "$1" "$2" || fail "$3: $1 and $2 differ"$'\n'"$(diff -u -- "$1" "$2" | head -n 40)"
}

# --- exit --------------------------------------------------------------------------------
_LIB_AT_EXIT=()
_LIB_FAILED=0
at_exit() {
	_LIB_AT_EXIT+=("$1")
}

_lib_exit() {
	local rc=$? cmd h
	set +e
	for cmd in "${_LIB_AT_EXIT[@]}"; do eval "$cmd"; done
	for h in "${!_LIB_STOPPED[@]}"; do _local_fleet cont "$h"; done
	for h in "${!_LIB_KILLED[@]}"; do _local_fleet start "$h"; done
	rm -rf -- "$T"
	if ((rc != 0 && _LIB_FAILED == 0)); then
		echo "FAIL: $(basename "$0") exited with status $rc" >&2
	fi
	exit "$rc"
}
trap _lib_exit EXIT

# ns_sshd_config HOST OUT [ADDR:PORT...]: fleet host HOST's sshd_config,
# moved for a network namespace (t_jump, t_bastion): its own pid file,
# forwarding allowed (a bastion), listening on the given addresses (none:
# for `sshd -i`).
ns_sshd_config() {
	local host=$1 out=$2
	shift 2
	grep -v '^ListenAddress\|^PidFile' "$FLEET_DIR/hosts/$FLEET_NET.$host/sshd_config" >"$out"
	echo "PidFile $out.pid" >>"$out"
	echo "AllowTcpForwarding yes" >>"$out"
	for a in "$@"; do echo "ListenAddress $a" >>"$out"; done
}

# ns_new NAME: a network namespace of the test's own, $NS (NAME-PID), its
# loopback up; removed at exit with whatever still runs in it. The hosts
# that must be reachable only through a bastion or relay live there.
ns_new() {
	NS=$1-$$
	ip netns add "$NS"
	at_exit "ip netns pids $NS 2>/dev/null | xargs -r kill -9; ip netns delete $NS"
	ip -n "$NS" link set lo up
}

# ns_way_in ADDR CONF LOG: the one way into $NS: a socat listener on
# ADDR:22 in the root namespace that starts `sshd -i -f CONF` inside the
# namespace for each connection (the bastion or gateway). Sets SOCAT.
ns_way_in() {
	socat "TCP-LISTEN:22,bind=$1,fork,reuseaddr" \
		EXEC:"ip netns exec $NS /usr/sbin/sshd -i -f $2 -E $3" &
	SOCAT=$!
	at_exit "kill $SOCAT 2>/dev/null"
}

# ns_wait ADDR PATTERN...: until ADDR:22 listens in the root namespace
# and every PATTERN is in $NS's `ss -ltn` (bounded; the test then fails
# on its first connection if something did not come up).
ns_wait() {
	local addr=$1 p ready
	shift
	for _ in $(seq $((100 * SLOW))); do
		ready=1
		ss -ltn "src $addr" | grep ":22" >/dev/null || ready=0
		for p; do ip netns exec "$NS" ss -ltn | grep -- "$p" >/dev/null || ready=0; done
		((ready)) && return 0
		sleep 0.1
	done
}

# fleet_key I: fleet host I's host key as known_hosts has it ("TYPE BASE64").
fleet_key() { sed -n "s/^$FLEET_NET.$1 //p" "$KH"; }

# sshd_base_config ADDR USER: the lines every test's own sshd starts from
# (key-only login for USER on ADDR:22, host key $T/hostkey, pid file
# $T/sshd.pid); the test prints its own lines after them.
sshd_base_config() {
	cat <<CFG
ListenAddress $1:22
HostKey $T/hostkey
PidFile $T/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AllowUsers $2
AuthorizedKeysFile .ssh/authorized_keys
CFG
}

# agent_with KEYFILE...: an ssh-agent of this test's own (SSH_AUTH_SOCK and
# SSH_AGENT_PID exported), holding these keys, killed at exit.
agent_with() {
	local k
	eval "$(ssh-agent -s)" >/dev/null
	at_exit "kill $SSH_AGENT_PID 2>/dev/null || true"
	for k in "$@"; do ssh-add -q "$k" 2>/dev/null; done
}

# mu SUBCOMMAND ARGS...: muster with this test's $T/ssh_config, the
# known_hosts ${KHF:-$T/kh} and the options in the array MU_OPTS; its
# stdout in $T/out and stderr in $T/err; sets rc, never fails the script.
mu() {
	set +e
	"$MUSTER" "$1" -F "$T/ssh_config" --known-hosts "${KHF:-$T/kh}" "${MU_OPTS[@]}" "${@:2}" >"$T/out" 2>"$T/err"
	rc=$?
	set -e
}

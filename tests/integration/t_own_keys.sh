#!/usr/bin/env bash
# Per-host keys: an inventory's ansible_ssh_private_key_file (or muster's
# key=) other than the run's -k key. Host 2 is made to accept only a key of
# its own, host 1 only the run's: one run reaches both, each with its key.
# A key file that is missing or is not a key is a usage error naming the
# inventory FILE:LINE, before any host is contacted.
. "$(dirname "$0")/lib.sh"

H2=$(fleet_home 2)
AK=$H2/.ssh/authorized_keys
cp -p "$AK" "$T/ak2.saved"
restore_ak2() { cp -p "$T/ak2.saved" "$AK"; }
at_exit restore_ak2

ssh-keygen -q -t ed25519 -N '' -C own-key -f "$T/own"
cat "$T/own.pub" >"$AK" # host 2 no longer takes the run's key

u1=$(fleet_user 1) a1=$(fleet_addr 1) u2=$(fleet_user 2) a2=$(fleet_addr 2)
opts=(-k "$KEY" -F /dev/null --known-hosts "$KH")

# --- without its own key, host 2 refuses the run's --------------------------------
set +e
"$MUSTER" run "${opts[@]}" -w "$u2@$a2" -- true >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 3 "$rc" "host 2 refuses the run's key"
assert_contains "$(cat "$T/err")" "auth" "as an authentication failure"
ok "host 2 takes only its own key"

# --- INI: ansible_ssh_private_key_file on host 2 only ---------------------------------
cat >"$T/inv.ini" <<INI
[web]
h1 ansible_host=$a1 ansible_user=$u1
h2 ansible_host=$a2 ansible_user=$u2 ansible_ssh_private_key_file=$T/own
INI
"$MUSTER" run "${opts[@]}" -i "$T/inv.ini" -- 'echo $USER' >"$T/out" 2>"$T/err" ||
	fail "run with a per-host key: $(cat "$T/err")"
assert_eq "h1: $u1
h2: $u2" "$(sort "$T/out")" "each host with its own key"
ok "INI: two hosts, two keys, one run"

# --- YAML, muster's key= as a group variable ------------------------------------------
cat >"$T/inv.yml" <<YML
all:
  children:
    one:
      hosts:
        h1: { ansible_host: $a1, ansible_user: $u1 }
    two:
      vars:
        key: $T/own
      hosts:
        h2: { ansible_host: $a2, ansible_user: $u2 }
YML
"$MUSTER" run "${opts[@]}" -i "$T/inv.yml" -- 'echo $USER' >"$T/out" 2>"$T/err" ||
	fail "run with key= in YAML: $(cat "$T/err")"
assert_eq "h1: $u1
h2: $u2" "$(sort "$T/out")" "key= as a group variable"
ok "YAML: key= as a group variable"

# --- bad key files name the inventory line ---------------------------------------------
printf 'h2 ansible_host=%s ansible_user=%s\nh3 ansible_host=%s key=%s/missing\n' "$a2" "$u2" "$a1" "$T" >"$T/bad.ini"
set +e
"$MUSTER" run "${opts[@]}" -i "$T/bad.ini" -- true >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 2 "$rc" "a missing key file is a usage error"
assert_contains "$(cat "$T/err")" "bad.ini:2 (key): $T/missing for host h3: No such file" "names FILE:LINE and the file"
echo "not a key" >"$T/notakey"
printf '[g]\nh2 ansible_host=%s\n[g:vars]\nansible_ssh_private_key_file=%s/notakey\n' "$a2" "$T" >"$T/bad2.ini"
set +e
"$MUSTER" run "${opts[@]}" -i "$T/bad2.ini" -- true >"$T/out" 2>"$T/err"
rc=$?
set -e
assert_eq 2 "$rc" "a file that is not a key is a usage error"
assert_contains "$(cat "$T/err")" "bad2.ini:4 (ansible_ssh_private_key_file): $T/notakey for host h2: cannot load the private key" "names FILE:LINE"
[[ -s $T/out ]] && fail "a host was run on: $(cat "$T/out")"
ok "bad per-host key files: usage errors naming FILE:LINE, nothing run"

#!/usr/bin/env python3
"""Compare muster --list-hosts with ansible-inventory --list.

  compare.py ANSIBLE_JSON LOCAL_USER GROUP MUSTER_LIST

GROUP is "all" or a group name; MUSTER_LIST is the output of
`muster run --list-hosts -F /dev/null -i INVENTORY [-g GROUP]`. Prints the
differences and exits 1 when there are any.
"""
import json
import sys


def members(inv, group, seen=None):
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    g = inv.get(group, {})
    out = set(g.get("hosts", []))
    for child in g.get("children", []):
        out |= members(inv, child, seen)
    return out


def main():
    path, local_user, group, listing = sys.argv[1:5]
    with open(path) as f:
        inv = json.load(f)
    hostvars = inv.get("_meta", {}).get("hostvars", {})
    want = {}
    for host in members(inv, group):
        v = hostvars.get(host, {})
        # Ansible's ssh plugin takes the last of its variables defined:
        # the ansible_ssh_* spelling wins wherever it is set.
        user = v.get("ansible_ssh_user", v.get("ansible_user", local_user))
        addr = v.get("ansible_ssh_host", v.get("ansible_host", host))
        port = v.get("ansible_ssh_port", v.get("ansible_port", 22))
        want[host] = (str(user), str(addr), str(port), "direct")
    got = {}
    with open(listing) as f:
        lines = f.read().splitlines()
    if not lines or lines[0].split("\t") != ["HOST", "USER", "ADDRESS",
                                              "PORT", "ROUTE"]:
        print("no --list-hosts header")
        return 1
    for line in lines[1:]:
        host, *rest = line.split("\t")
        got[host] = tuple(rest)
    bad = 0
    for host in sorted(set(want) | set(got)):
        if want.get(host) != got.get(host):
            print(f"{group}: {host}: ansible {want.get(host)}, "
                  f"muster {got.get(host)}")
            bad = 1
    return bad


sys.exit(main())

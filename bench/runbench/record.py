"""Recording runs: the CSV recorder, the progress line and measure() (one
measured and checked run as a CSV row).
"""

import csv
import datetime
import shutil

from runbench.common import note
from runbench.tools import run_measured


class Recorder:
    """Rows of one result kind, written to their CSV as they come."""

    def __init__(self, path, fields):
        self.path, self.fields, self.rows = path, fields, []
        self.f = open(path, "w", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=fields)
        self.w.writeheader()

    def add(self, row):
        self.rows.append(row)
        self.w.writerow({k: (f"{row.get(k):.4f}" if isinstance(row.get(k), float)
                             else "" if row.get(k) is None else row[k]) for k in self.fields})
        self.f.flush()

    def close(self):
        self.f.close()


class Progress:
    def __init__(self, total):
        self.total, self.done = total, 0

    def __call__(self, what, m, ok, why):
        self.done += 1
        note(f"[{self.done}/{self.total}] {what} {'ok' if ok else 'FAILED'} "
             f"wall {m['wall_s']:.2f}s ctl {m['ctl_cpu_s']:.2f}s "
             f"fleet {m['fleet_cpu_s']:.2f}s" + (f"  ({why})" if why else ""))


def measure(argv, env, base, check, args, fleet, tag, **kw):
    """One timed run of argv with outputs in base.{out,err}; check(m, out, err)
    says (ok, note). The outputs of failed runs are kept under base-TAG-FAILED.
    kw goes to run_measured."""
    m = run_measured(argv, env, base + ".out", base + ".err", args.timeout, fleet, **kw)
    ok, why = check(m, base + ".out", base + ".err")
    if ok and m["fleet_busy_after"]:
        why = "; ".join(filter(None, [why, f"{m['fleet_busy_after']} fleet sessions "
                                           "still open after 10 s"]))
    if not ok:  # keep the evidence of failures
        for ext in (".out", ".err"):
            shutil.copyfile(base + ext, f"{base}-{tag}-FAILED{ext}")
    return m, ok, why


def now_iso():
    return datetime.datetime.now().isoformat(timespec="seconds")

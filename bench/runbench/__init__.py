"""bench/run-bench in modules, one job each; bench/run-bench is the entry point.

common     shared paths, fleet addresses, jobs and tools; MUSTER, NO_DAEMON_OPT
           and CTL, which main() sets (read as common.X)
args       the command line
fleet      deploy/local-fleet, listeners, fleet CPU
hostfiles  per-N inventories and host lists, ansible files
tools      tool command lines, the controller cgroup, one measured run, checks
record     the CSV recorder, the progress line, measure()
push       --jobs push: source file, destinations, checks, the push loop
report     Markdown tables, targets, the chart, CSV columns
daemon     the muster-daemon tool
mitogen    the mitogen tool
main       main() and --render

Imports go downward only: common < args, fleet < hostfiles < tools < record <
push, daemon, mitogen < main; report needs only common.
"""

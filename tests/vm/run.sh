#!/bin/bash
# run.sh - build what the netbuf VM suite needs on the host, then run
# tests/vm/suite.sh in one QEMU guest (tests/vm/vmrun.sh).
#
#   tests/vm/run.sh [STANDBY_BINARY]      (default: ./standby, built with make)
#
# Exit status: the suite's (0 all passed, 1 some failed), or 125 when the VM
# could not run at all (vmrun.sh's reason is on stderr).
set -euo pipefail
cd "$(dirname "$0")/../.."
STANDBY=${1:-$PWD/standby}
[ -n "${1:-}" ] || make -s standby
mkdir -p build/vm
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o build/vm/probe tests/vm/probe.c
export STANDBY PROBE=$PWD/build/vm/probe
exec tests/vm/vmrun.sh --timeout 400 -- bash tests/vm/suite.sh

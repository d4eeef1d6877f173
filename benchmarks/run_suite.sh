#!/usr/bin/env bash
# The scenarios docs/performance.md reports, in one go.
#   benchmarks/run_suite.sh small   # N <= 300, each run <= 30 s: safe on a shared machine
#   benchmarks/run_suite.sh large   # the scale runs, each bounded to 3 minutes
#   benchmarks/run_suite.sh instructions   # callgrind instruction counts: the same whatever else runs
# Results land in benchmarks/results/ (git-ignored); charts with benchmarks/plot.py.
set -uo pipefail  # one failed run does not stop the others
cd "$(dirname "$0")/.."
PY=.venv/bin/python
LG=benchmarks/loadgen.py
case "${1:-small}" in
  small)
    $PY $LG idle    -n 300 --steps 3 --idle 12 --bot all --max-seconds 30
    $PY $LG steady  -n 100 --rate 50,100,200 --duration 5 --bot all --max-seconds 30
    $PY $LG burst   -n 300 --rounds 3 --bot all --max-seconds 30
    $PY $LG plugins -n 100 --rate 100 --duration 5 --max-seconds 30
    $PY $LG steady  -n 100 --rate 100 --duration 5 --receipts --max-seconds 30
    $PY $LG storm   -n 300 --rate 100 --duration 10 --max-seconds 30
    ;;
  large)
    $PY $LG idle    -n 10000 --steps 5 --idle 12 --bot botkit --up-timeout 120 --max-seconds 180
    $PY $LG steady  -n 1000 --rate 250,500,750,1000 --duration 8 --bot botkit,minimal --rig-loop uvloop --pin emulator=0,loadgen=1,bot=1 --max-seconds 180
    $PY $LG idle    -n 10000 --steps 5 --idle 12 --bot minimal --up-timeout 120 --max-seconds 180
    $PY $LG burst   -n 1000 --rounds 3 --bot all --max-seconds 180
    $PY $LG idle    -n 3000 --steps 3 --idle 12 --bot threaded --up-timeout 120 --max-seconds 180
    $PY $LG storm   -n 1000 --rate 500 --duration 10 --bot botkit,minimal --rig-loop uvloop --pin emulator=0,loadgen=1,bot=1 --max-seconds 180
    ;;
  instructions)
    $PY benchmarks/hot_path.py --instructions --messages 3000
    $PY $LG steady  -n 20 --rate 10 --duration 30 --bot botkit,minimal --callgrind bot --up-timeout 200 --drain-timeout 120 --max-seconds 600
    ;;
  *) echo "usage: $0 small|large|instructions" >&2; exit 2 ;;
esac

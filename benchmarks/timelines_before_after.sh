#!/bin/bash
# Timelines through the command line, before and after (issue 24): `ferx analyze audience.mp4 -q`
# with and without --no-timelines, each a fresh process, for another ferx source tree (BASE_SRC,
# e.g. `git archive 3197adc src | tar -x -C /tmp/ferx-base` → /tmp/ferx-base/src) and this one.
# The audience clip is bench_outputs.py's (composed from lfw photos, seeded).
#   benchmarks/timelines_before_after.sh BASE_SRC [WORKDIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE_SRC=$1
WORK=${2:-$(mktemp -d)}
PY=${PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$WORK" && cd "$WORK"
[ -f audience.mp4 ] || PYTHONPATH=$ROOT/benchmarks "$PY" -c \
  "from pathlib import Path; from bench_outputs import audience_clip; audience_clip(Path('audience.mp4'))"
echo "## $(date -u '+%Y-%m-%d %H:%M') UTC, load average $(cut -d' ' -f1 /proc/loadavg)"
for tree in before after; do
  if [ $tree = before ]; then SRC=$BASE_SRC; else SRC=$ROOT/src; fi
  for t in with without; do
    flag=""; [ $t = without ] && flag="--no-timelines"
    rm -rf "out-$tree-$t"
    s=$(date +%s.%N)
    PYTHONPATH=$SRC "$PY" -c "import sys; from ferx.cli import main; sys.exit(main(sys.argv[1:]))" \
      analyze audience.mp4 --out "out-$tree-$t" -q $flag >/dev/null 2>&1 || echo "($tree $t: exit $?)"
    e=$(date +%s.%N)
    n=$(find "out-$tree-$t" -name 'timeline-*' | wc -l)
    echo "$tree, timelines $t: $(echo "$e - $s" | bc) s, $n timeline files"
  done
done

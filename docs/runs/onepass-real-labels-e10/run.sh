#!/bin/sh
# Start or resume this run (issue 26, third arm): sh /work/runs/issue26/real-labels-e10/run.sh &
# Runs from /work/runs/issue26 (runs/cache/onepass there holds the box cache and the mosaics) with the code
# pinned to commit 944af29 (code-944af29/src), one torch thread, nice 15, appending to stdout.log beside
# this file. The same command resumes: with last.pt present it passes --resume (the saved config.yaml is
# used; the harness resumes bit-identically).
cd /work/runs/issue26 || exit 1
if [ -f real-labels-e10/last.pt ]; then
  set -- --resume
else
  set --
fi
PYTHONPATH=/work/runs/issue26/code-944af29/src OMP_NUM_THREADS=1 exec nice -n 15 /work/wt26/.venv/bin/ferx train-detector \
  /work/main/configs/onepass-real-labels.yaml "$@" --out real-labels-e10 >> real-labels-e10/stdout.log 2>&1

#!/bin/sh
# Start or resume this run (issue 26): sh /work/runs/issue26/real-csp-e10/run.sh &
# Runs from /work/runs/issue26 (runs/cache/onepass there holds the box cache, the mosaics and the teacher's
# crops) with the code pinned to commit b7a663c (code-b7a663c/src), one torch thread, nice 15, appending to
# stdout.log beside this file. The same command resumes: with last.pt present it passes --resume (the run's
# saved config.yaml is used; the harness resumes bit-identically).
cd /work/runs/issue26 || exit 1
if [ -f real-csp-e10/last.pt ]; then
  set -- --resume
else
  set -- 
fi
PYTHONPATH=/work/runs/issue26/code-b7a663c/src OMP_NUM_THREADS=1 exec nice -n 15 /work/wt26/.venv/bin/ferx train-detector \
  /work/wt26/configs/onepass-real-csp.yaml "$@" --out real-csp-e10 >> real-csp-e10/stdout.log 2>&1

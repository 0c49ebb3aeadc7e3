"""Every run of ferx — photos into a folder, a video into a folder, a large collection into a Parquet
dataset — is one driver (`ferx.runs.driver.drive`) with one interrupt guard, one status and exit-code
rule, one progress reporter and one resume ledger, configured with an engine (where the analysis runs)
and a sink (which output layout it writes, `ferx.runs.layout`):

    run_photos   ferx analyze on images    in this process         OUT/<image>.json, faces.csv/.parquet
    run_video    ferx analyze on a video   in this process         OUT/rows.csv/.parquet, segments.jsonl
    run_dataset  ferx batch                process pool or Ray     OUT/faces/*.parquet (exactly once)

Heavy dependencies (pyarrow, Ray, PyAV, matplotlib) are imported only by the runs that need them.
"""

from __future__ import annotations

from ferx.runs.driver import Aborted, SetupError, drive
from ferx.runs.guard import InterruptGuard, Interrupted
from ferx.runs.status import RunStatus, exit_code

__all__ = ["Aborted", "InterruptGuard", "Interrupted", "RunStatus", "SetupError", "drive", "exit_code"]

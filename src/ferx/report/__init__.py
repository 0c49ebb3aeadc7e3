"""HTML reports of ferx results: one self-contained file per run that opens offline.

    from ferx.report import write_report
    write_report("ferx-output")            # → ferx-output/report.html

`ferx report RESULTS_DIR` and `ferx analyze ... --report` call the same functions (`ferx.report.cli`).
Needs matplotlib (charts): `pip install 'ferx[report]'`.
"""

from __future__ import annotations

from ferx.report.build import (
    MAX_IMAGES,
    REPORT_NAME,
    ReportError,
    report_for_batch,
    report_for_results,
    report_html,
    write_report,
)
from ferx.report.html import ReportEntry, build_report

__all__ = ["MAX_IMAGES", "REPORT_NAME", "ReportEntry", "ReportError", "build_report", "report_for_batch",
           "report_for_results", "report_html", "write_report"]

"""The log of a training run: timestamped lines appended to RUN/log.txt, echoed to stderr."""

from __future__ import annotations

import sys
import time
from pathlib import Path


class RunLog:
    """Call it with a message to log one line; `close()` when the run ends."""

    def __init__(self, out: Path, echo: bool = True) -> None:
        self._file = open(Path(out) / "log.txt", "a")
        self.echo = echo

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, file=self._file, flush=True)
        if self.echo:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        self._file.close()

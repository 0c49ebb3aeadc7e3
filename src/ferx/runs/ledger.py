"""The one resume ledger of every resumable run: what defines the run (`run.json`: its settings and
their hash) and an append-only JSON-lines log of what is finished.

A log line is written in one `write` after the outputs it names exist (and fsync'ed where the caller
asks), so a line either names finished work or is torn: a torn last line — a crash inside the
append — is dropped when the log is read, and its work is done again. `ferx analyze` logs one line
per image (`.ferx-batch/done.jsonl`), `ferx batch` one line per committed shard
(`_ferx/manifest.jsonl`); both refuse to resume with other settings than those in `run.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ferx import __version__
from ferx.errors import FerxError
from ferx.fsutil import append_bytes, atomic_write_bytes, atomic_write_text


class SettingsMismatch(FerxError):
    """The output folder was written with other settings than this run's."""


class RunSpec:
    """The settings that define a run's output, and their hash (`fingerprint`).

    Args:
        spec: JSON-ready settings (analyzer config, output options, row format).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = json.loads(json.dumps(spec))  # as JSON has it, so a stored spec compares equal
        self.fingerprint = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def write(self, path: Path, **extra: Any) -> None:
        """Write run.json (atomically) with the version of ferx and `extra` entries."""
        doc = {"ferx_version": __version__, "fingerprint": self.fingerprint, "spec": self.spec, **extra}
        atomic_write_text(path, json.dumps(doc, indent=1))

    @staticmethod
    def read(path: Path) -> dict[str, Any] | None:
        """run.json as stored, None when there is none.

        Raises:
            SettingsMismatch: it cannot be read or is not a JSON object.
        """
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise SettingsMismatch(f"{path} is unreadable ({e})") from None
        if not isinstance(data, dict):
            raise SettingsMismatch(f"{path} is not a run description")
        return data

    def differences(self, stored: dict[str, Any]) -> list[str]:
        """The settings (config.<key> for analyzer keys) that differ from a stored run.json; empty
        when the fingerprints match."""
        if stored.get("fingerprint") == self.fingerprint:
            return []
        old = stored.get("spec") or {}
        keys = [k for k in sorted(set(old) | set(self.spec)) if k != "config" and old.get(k) != self.spec.get(k)]
        old_cfg, new_cfg = old.get("config") or {}, self.spec.get("config") or {}
        keys += [f"config.{k}" for k in new_cfg if old_cfg.get(k) != new_cfg[k]]
        return keys or ["(see run.json)"]


class JsonLog:
    """An append-only JSON-lines file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def read(self, *, repair: bool = False) -> list[Any]:
        """The complete lines, parsed. A torn last line is skipped; with `repair` the file is cut
        back to its last complete line (appends then start on a fresh line). Lines that do not
        parse (a foreign line, garbage after a crash) are skipped."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        if repair and end < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        out = []
        for line in data[:end].splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def rewrite(self, entries: Iterable[Any]) -> None:
        """Replace the log by `entries` (atomically)."""
        atomic_write_bytes(self.path, b"".join(_line(e) for e in entries))

    def open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)

    def append(self, entry: Any, *, fsync: bool = False) -> None:
        """Append one line (ASCII: a torn write never splits a character)."""
        assert self._fd is not None, "open() first"
        append_bytes(self._fd, _line(entry))
        if fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


def _line(entry: Any) -> bytes:
    # ensure_ascii: names with undecodable bytes stay \udcXX escapes, which json.loads turns back
    # into the exact same name
    return (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii")


__all__ = ["JsonLog", "RunSpec", "SettingsMismatch"]

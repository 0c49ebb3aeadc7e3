"""Writers of ferx's one table (`ferx.table`) to files, shared by every run: CSV (whole lines appended,
so an interrupted run leaves a valid file) and Parquet (row groups as they fill; the file appears
under its name only when finished, `<name>.partial` until then).

Both can undo the rows written since `begin()` (`rollback`): a photo run writes all the outputs of
an image or none of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ferx.fsutil import append_bytes
from ferx.table import TableLayout

#: CSV rows end with CRLF (RFC 4180); explanation texts hold bare LFs, so a file that does not end with
#: CRLF ends with a torn row.
CRLF = "\r\n"


class CsvRowWriter:
    """Appends rows to a CSV file as whole lines.

    Args:
        path: the file.
        layout: its columns.
        append: keep what the file holds (a resumed run whose file was checked); else start it
            afresh with the header.
    """

    def __init__(self, path: str | os.PathLike[str], layout: TableLayout, *, append: bool = False) -> None:
        self.path = Path(path)
        self.layout = layout
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | (0 if append else os.O_TRUNC)
        self._fd = os.open(self.path, flags, 0o666)
        self.rows = 0
        if not append or os.fstat(self._fd).st_size == 0:
            append_bytes(self._fd, (",".join(layout.names) + CRLF).encode())

    def begin(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_END)

    def write(self, rows: list[list[Any]]) -> None:
        if rows:
            text = "".join(self.layout.csv_line(r) + CRLF for r in rows)
            append_bytes(self._fd, text.encode("utf-8", "backslashreplace"))
            self.rows += len(rows)

    def rollback(self, mark: int) -> None:
        try:
            os.ftruncate(self._fd, mark)
        except OSError:
            pass

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1


class ParquetRowWriter:
    """Writes rows to Parquet in row groups of about `group_rows` (bounded memory). The file is written
    as `<name>.partial` and renamed when closed — also on an interrupt — so a file under the final
    name is always complete."""

    def __init__(self, path: str | os.PathLike[str], layout: TableLayout, group_rows: int = 1024) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.layout = layout
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.group_rows = int(group_rows)
        self.rows = 0
        self._buffer: list[list[Any]] = []
        self._writer: Any = pq.ParquetWriter(self.partial, layout.arrow_schema(), compression="zstd")

    def write_table(self, table: Any) -> None:
        """Arrow rows of this layout (e.g. those a resumed run keeps)."""
        self._writer.write_table(table.cast(self.layout.arrow_schema()))
        self.rows += table.num_rows

    def begin(self) -> int:
        if len(self._buffer) >= self.group_rows:
            self._flush()
        return len(self._buffer)

    def write(self, rows: list[list[Any]]) -> None:
        self._buffer.extend(rows)
        self.rows += len(rows)
        if len(self._buffer) >= 4 * self.group_rows:  # a writer that never calls begin()
            self._flush()

    def rollback(self, mark: int) -> None:
        self.rows -= len(self._buffer) - mark
        del self._buffer[mark:]

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(self.layout.arrow_table(self._buffer))
            self._buffer = []

    def close(self) -> None:
        if self._writer is None:
            return
        try:
            self._flush()
        finally:
            self._writer.close()
            self._writer = None
        os.replace(self.partial, self.path)


def close_all(writers: list[Any]) -> None:
    """Close every writer; raise the first failure."""
    errors = []
    for w in writers:
        try:
            w.close()
        except Exception as e:  # noqa: BLE001 - close the others, report this one
            errors.append(e)
    if errors:
        raise errors[0]


__all__ = ["CRLF", "CsvRowWriter", "ParquetRowWriter", "close_all"]

"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one.

Each write goes to a temporary file in the target's own folder (so that the final rename stays on one
file system), is fsync'ed, then renamed over the target with `os.replace`, which POSIX makes atomic.
If anything fails — a full disk, an interrupt, a bad image — the temporary file is removed and the
target is left untouched.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from PIL import Image

StrPath = str | os.PathLike[str]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which would race with other threads.
_UMASK = _read_umask()


def atomic_write_bytes(path: StrPath, data: bytes) -> None:
    """Write `data` to `path` atomically (the folder must exist)."""
    target = Path(path)
    # The temporary name is short and fixed-length so that it fits NAME_MAX even when the target's
    # own name is as long as the file system allows.
    fd, tmp = tempfile.mkstemp(prefix=".ferx-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, target)
    except BaseException:
        # BaseException: a KeyboardInterrupt between write and rename must not leave a stray file.
        _unlink_quietly(tmp)
        raise


def atomic_write_text(path: StrPath, text: str, *, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically, encoded as `encoding`."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_save_image(path: StrPath, image: Image.Image, *, format: str | None = None, **params: Any) -> None:
    """Save a PIL image to `path` atomically. The format comes from `format` or the path's extension
    (as `Image.save` would choose it); `params` go to `Image.save` (e.g. quality=92)."""
    target = Path(path)
    if format is None:
        ext = target.suffix.lower()
        Image.init()
        if ext not in Image.EXTENSION:
            raise ValueError(f"{target}: cannot tell the image format from the extension {ext!r}")
        format = Image.EXTENSION[ext]
    buf = io.BytesIO()
    # Encoding to memory first: an encoder error then leaves nothing on disk at all.
    image.save(buf, format=format, **params)
    atomic_write_bytes(target, buf.getvalue())


def append_bytes(fd: int, data: bytes) -> None:
    """Append all of `data` to the file open as `fd` (O_APPEND), or leave the file as it was.

    On error (e.g. a full disk after a partial write) the file is truncated back to its previous
    size before the error is raised, so that a reader never sees half a record.
    """
    start = os.lseek(fd, 0, os.SEEK_END)
    view = memoryview(data)
    try:
        while view:
            n = os.write(fd, view)  # a short write is possible near a full disk; keep going
            view = view[n:]
    except BaseException:
        try:
            os.ftruncate(fd, start)
        except OSError:
            pass  # the write error is the one worth reporting
        raise


#: errors after which no further write can succeed (a full disk or quota, a read-only file system)
FATAL_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
#: the same, as libraries that lose the errno word them (pyarrow, FFmpeg)
_FATAL_WORDS = ("No space left on device", "Disk quota exceeded", "Read-only file system")


def is_fatal_write(e: BaseException) -> bool:
    """Whether `e` says the disk (or quota) is full or read-only: the run stops (`ferx.runs.space`)."""
    if not isinstance(e, OSError):
        return False
    return e.errno in FATAL_WRITE_ERRNOS or any(w in str(e) for w in _FATAL_WORDS)


def write_error_reason(e: BaseException) -> str:
    """The words of an OSError for a summary or a message."""
    return (e.strerror if isinstance(e, OSError) and e.strerror else "") or str(e) or type(e).__name__


class FolderLock:
    """An exclusive lock (flock) on a file in an output folder, held by one run at a time until it is
    released or the process ends (a killed run holds nothing: the kernel drops its lock).

    With `reentrant`, it is re-entrant within one thread, as an RLock: a run that holds it (`ferx
    analyze`, over its videos and then its photos) can start a part that takes it again, and the file
    is unlocked when the last holder releases; another thread is refused as another process is.
    Without, any second holder is refused (`ferx batch`'s store: one writer per dataset)."""

    _held: dict[str, list[Any]] = {}  # real path → [fd, holders, owning thread] in this process
    _guard = threading.Lock()
    #: flock errors that mean "this file system has no locks" (NFS without lockd, many FUSE mounts): the
    #: run goes on unlocked (`unlocked` says so) instead of being told another run holds the folder
    NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)

    def __init__(self, path: Path, *, reentrant: bool = False) -> None:
        self.path = path
        self.reentrant = reentrant
        self.unlocked = False  # acquired on a file system without locks: nothing is held
        self._key: str | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process (or thread) holds it. An instance takes it once
        (a second call is a no-op). Raises OSError when the lock file cannot be opened (a read-only or
        foreign folder); a file system without locks gives True with `unlocked` set."""
        import fcntl

        key = os.path.realpath(self.path)
        with FolderLock._guard:
            if self._key is not None or self.unlocked:
                return True
            held = FolderLock._held.get(key)
            if held is not None:
                if not self.reentrant or held[2] is not threading.current_thread():
                    return False
                held[1] += 1
                self._key = key
                return True
            fd = _open_lock_file(self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except OSError as e:
                os.close(fd)
                if e.errno not in FolderLock.NO_LOCKS:
                    raise
                self.unlocked = True
                return True
            FolderLock._held[key] = [fd, 1, threading.current_thread()]
            self._key = key
            return True

    def release(self) -> None:
        with FolderLock._guard:
            key, self._key = self._key, None
            self.unlocked = False
            held = FolderLock._held.get(key) if key is not None else None
            if held is None:
                return
            held[1] -= 1
            if held[1] == 0:
                del FolderLock._held[key]  # type: ignore[arg-type]
                try:
                    os.close(held[0])  # closing the file releases the flock
                except OSError:
                    pass


def _open_lock_file(path: Path) -> int:
    """The lock file, read-write (created if missing), or read-only where it exists but is another
    user's (flock works on a read-only descriptor, so a shared results folder is still locked)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY)


def short_hash(text: str) -> str:
    """8 hex digits of the hash of `text` (a path, possibly with surrogate-escaped bytes): the tag that
    keeps two outputs of the same name apart (`name~1a2b3c4d`)."""
    import hashlib

    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def printable(text: str) -> str:
    """`text` safe for UTF-8 outputs: bytes of a file name that are not UTF-8 (which Python keeps as
    lone surrogates) become `\\xNN`, e.g. b"caf\\xe9.jpg" → "caf\\\\xe9.jpg"."""
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeError:  # a lone surrogate that did not come from a file name
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def file_sha256(path: StrPath, block: int = 1 << 20) -> str:
    """The sha256 of a file's content, read in blocks (bounded memory for large videos)."""
    return file_fingerprint(path, block)[1]


def file_fingerprint(path: StrPath, block: int = 1 << 20) -> tuple[int, str]:
    """(size, sha256) of a file, read through one open file so that both describe the same bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        while data := f.read(block):  # not hashlib.file_digest: ferx runs on Python 3.10
            h.update(data)
    return size, h.hexdigest()


def _unlink_quietly(path: StrPath) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


__all__ = ["append_bytes", "atomic_save_image", "atomic_write_bytes", "atomic_write_text"]

import errno
import os

import numpy as np
import pytest
from PIL import Image

from ferx import fsutil
from ferx.fsutil import append_bytes, atomic_save_image, atomic_write_bytes, atomic_write_text
from tests.conftest import lfw_paths


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".ferx-"))


def test_atomic_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_text(target, '{"v": 1}')
    atomic_write_text(target, '{"v": 22}')
    assert target.read_text() == '{"v": 22}'
    assert _leftovers(tmp_path) == []
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~fsutil._UMASK)  # not mkstemp's 0600


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, error):
    target = tmp_path / "a.json"
    atomic_write_text(target, '{"old": true}')

    def fail(fd):
        raise error

    monkeypatch.setattr(fsutil.os, "fsync", fail)  # the data is written, the rename never happens
    with pytest.raises(type(error)):
        atomic_write_bytes(target, b'{"new": tr')
    assert target.read_text() == '{"old": true}'
    assert _leftovers(tmp_path) == []


def test_a_name_at_name_max_can_be_written_atomically(tmp_path):
    target = tmp_path / ("n" * 255)  # the temporary file's own name must fit too
    atomic_write_bytes(target, b"x")
    assert target.read_bytes() == b"x"


def test_atomic_save_image_round_trips_and_never_leaves_half_an_image(tmp_path):
    photo = Image.open(lfw_paths("happiness", 1)[0]).convert("RGB")
    atomic_save_image(tmp_path / "p.png", photo)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "p.png")), np.asarray(photo))
    atomic_save_image(tmp_path / "p.jpg~tag", photo, format="JPEG", quality=92)  # format given: any name
    assert Image.open(tmp_path / "p.jpg~tag").format == "JPEG"
    with pytest.raises(ValueError, match="extension"):
        atomic_save_image(tmp_path / "p.unknown", photo)
    with pytest.raises(OSError):  # RGBA cannot be JPEG: the encoder fails before anything is on disk
        atomic_save_image(tmp_path / "q.jpg", photo.convert("RGBA"))
    assert not (tmp_path / "q.jpg").exists() and _leftovers(tmp_path) == []


def test_append_bytes_undoes_a_partial_append(tmp_path, monkeypatch):
    path = tmp_path / "rows.csv"
    path.write_bytes(b"header\r\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        append_bytes(fd, b"row 1\r\n")
        real_write = os.write
        calls = []

        def short_then_full(fd_, data):  # the disk fills up in the middle of a row
            calls.append(len(data))
            if len(calls) == 1:
                return real_write(fd_, bytes(data[:3]))
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(fsutil.os, "write", short_then_full)
        with pytest.raises(OSError) as e:
            append_bytes(fd, b"row 2 is long\r\n")
        assert e.value.errno == errno.ENOSPC and calls == [15, 12]
    finally:
        os.close(fd)
    assert path.read_bytes() == b"header\r\nrow 1\r\n"

"""Telling videos from images by their content, so that `ferx analyze` can route a path without
trusting its extension. Standard library only: no media library is loaded to route a path."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ferx.errors import NoImagesError
from ferx.io import IMAGE_EXTENSIONS, STILL_BRANDS, folder_files

#: Extensions of the files a folder contributes besides images (each then routed by content).
VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".flv", ".wmv", ".asf", ".ogv", ".3gp", ".3g2", ".y4m",
})



def sniff_video(head: bytes) -> bool:
    """True when the first bytes of a file are those of a video container."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return head[8:12] not in STILL_BRANDS
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):  # old QuickTime
        return True
    if head.startswith(b"\x1aE\xdf\xa3"):  # EBML: Matroska / WebM
        return True
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"AVIX"):
        return True
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):  # MPEG program stream / ES
        return True
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:  # MPEG-TS
        return True
    if head.startswith(b"FLV\x01"):
        return True
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):  # ASF / WMV
        return True
    if head.startswith(b"OggS") and b"\x80theora" in head[:128]:
        return True
    return head.startswith(b"YUV4MPEG2")


def _head(path: str | os.PathLike[str]) -> bytes:
    """The first bytes of a file (b"" when it cannot be read: the image path reports its problem)."""
    try:
        with open(path, "rb") as f:
            return f.read(512)
    except OSError:
        return b""


def is_video(path: str | os.PathLike[str]) -> bool:
    """True when `path` is a file whose content is a video container (not judged by extension).

    Unreadable or missing paths return False, so the image path reports their problem.
    """
    return sniff_video(_head(path))


# Signatures of still images, so that a photo named .mp4 is still read as a photo.
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"P1", b"P2", b"P3", b"P4",
                b"P5", b"P6")


def _sniff_image(head: bytes) -> bool:
    """True when the first bytes of a file are those of a still image."""
    webp = head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    still = len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in STILL_BRANDS
    return head.startswith(_IMAGE_MAGIC) or webp or still


def split_media(
    paths: Iterable[str | os.PathLike[str]], *, recursive: bool = False, ignored: list[Path] | None = None
) -> tuple[list[Path], list[Path]]:
    """Expand files and folders into (images, videos), each sorted within its folder.

    Every file is routed by content (`is_video`), whatever its extension: files named explicitly, and
    those of folders, which contribute the files with an image or a video extension (a bad one gets its
    own error later; a tryout found an MP4 named .jpg in a folder failed as a photo, a PNG named .mp4
    made a one-frame video). A folder with neither raises NoImagesError. `ignored` collects a folder's
    other files (hidden ones aside), so that a caller can say they were not read.
    """
    images: list[Path] = []
    videos: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = folder_files(p, recursive=recursive)
            media = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
            if ignored is not None:
                ignored.extend(f for f in found if f.suffix.lower() not in media and not f.name.startswith("."))
            chosen = [f for f in found if f.suffix.lower() in media]
            if not chosen:
                hint = "" if recursive else " (use --recursive to search subfolders)"
                raise NoImagesError(f"{p}: folder holds no image or video files{hint}")
            for f in chosen:
                (videos if _reads_as_video(f) else images).append(f)
        else:
            (videos if _reads_as_video(p) else images).append(p)  # missing or bad files: their own error later
    return images, videos


def _reads_as_video(path: Path) -> bool:
    """Content first; a video-named file whose content says nothing (empty, cut, garbage) goes to the
    video reader, whose error names what is wrong with it."""
    head = _head(path)
    if _sniff_image(head):  # a still's own signature first: a GIF's palette can look like MPEG-TS sync bytes
        return False
    return sniff_video(head) or path.suffix.lower() in VIDEO_EXTENSIONS


__all__ = ["VIDEO_EXTENSIONS", "is_video", "sniff_video", "split_media"]

"""Reading images from whatever a user holds: a path, bytes, a PIL image or a numpy array.

Everything becomes an (H, W, 3) uint8 RGB array with EXIF orientation applied. Each way an input can
be bad raises its own error with the path and the reason, before any model runs.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ferx.errors import ImageReadError, ImageSizeError, NoImagesError, UnsupportedFormatError
from ferx.types import Frame

ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Image.Image]

#: Extensions picked up when scanning a folder (files given explicitly are always tried).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm", ".pbm", ".pnm"}
)
#: Smallest side that can hold a detectable face.
MIN_SIDE = 16
#: Largest image decoded (12000 x 12000 = 144 Mpx fits); guards against decompression bombs.
MAX_PIXELS = 200_000_000

# Magic numbers of formats people mistake for images, for a specific message.
_NOT_IMAGE_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF", 0, "a PDF document"),
    (b"ftyp", 4, "an MP4/MOV/HEIC container (video or HEIC photo)"),
    (b"PK\x03\x04", 0, "a ZIP archive"),
    (b"\x1aE\xdf\xa3", 0, "a Matroska/WebM video"),
    (b"RIFF", 0, "a RIFF file (AVI video or WAV audio)"),
    (b"\x1f\x8b", 0, "a gzip archive"),
)


def load_image(
    src: ImageInput,
    *,
    channels: Literal["rgb", "bgr"] = "rgb",
    min_side: int = MIN_SIDE,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Decode an image into an (H, W, 3) uint8 RGB array.

    Args:
        src: a file path, encoded bytes, a PIL image, or a numpy array (H, W), (H, W, 1), (H, W, 3)
            or (H, W, 4) of uint8, uint16 or float in [0, 1].
        channels: channel order of a 3/4-channel numpy input ("bgr" for OpenCV arrays). Ignored for
            files, bytes and PIL images, whose order is known.
        min_side: smallest accepted width or height.
        max_pixels: largest accepted width × height (checked from the header, before decoding).

    Raises:
        ImageReadError: missing, empty, truncated or corrupt input.
        UnsupportedFormatError: the input is a known non-image format or an array of unusable shape.
        ImageSizeError: smaller than `min_side` or larger than `max_pixels`.
    """
    if isinstance(src, np.ndarray):
        rgb = _from_array(src, channels)
        _check_size(rgb.shape[1], rgb.shape[0], "<array>", min_side, max_pixels)
        return rgb
    if isinstance(src, Image.Image):
        _check_size(src.width, src.height, "<PIL image>", min_side, max_pixels)
        return _from_pil(ImageOps.exif_transpose(src), "<PIL image>")
    if isinstance(src, (bytes, bytearray, memoryview)):
        data, name = bytes(src), "<bytes>"
    elif isinstance(src, (str, os.PathLike)):
        data, name = _read_file(Path(src)), str(src)
    else:
        raise UnsupportedFormatError(
            f"cannot read an image from a {type(src).__name__}; pass a path, bytes, a PIL image or a numpy array"
        )
    if not data:
        raise ImageReadError(f"{name}: file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, with a clearer message
            im = Image.open(io.BytesIO(data))
            _check_size(im.width, im.height, name, min_side, max_pixels)
            im.load()
    except UnidentifiedImageError:
        raise _unidentified(data, name) from None
    except ImageSizeError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"{name}: image data is truncated or corrupt ({e})") from None
    try:
        im = ImageOps.exif_transpose(im)
    except Exception as e:  # a broken EXIF block should not lose an otherwise good image
        warnings.warn(f"{name}: ignoring unreadable EXIF orientation ({e})", stacklevel=2)
    return _from_pil(im, name)


def _read_file(path: Path) -> bytes:
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image (use analyze_many or --recursive)")
    try:
        return path.read_bytes()
    except OSError as e:
        raise ImageReadError(f"{path}: cannot read file ({e.strerror or e})") from None


def _unidentified(data: bytes, name: str) -> ImageReadError:
    for magic, offset, what in _NOT_IMAGE_SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return UnsupportedFormatError(
                f"{name}: this is {what}, not a still image ferx can read "
                "(JPEG, PNG, WebP, BMP, TIFF, GIF, PNM)"
            )
    head = data[:64]
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return UnsupportedFormatError(f"{name}: this is a text file, not an image")
    return ImageReadError(f"{name}: not a recognisable image (unknown format or corrupt header)")


def _check_size(width: int, height: int, name: str, min_side: int, max_pixels: int) -> None:
    if min(width, height) < min_side:
        raise ImageSizeError(
            f"{name}: image is {width}x{height} px, too small to hold a face (need at least {min_side} px per side)"
        )
    if width * height > max_pixels:
        raise ImageSizeError(
            f"{name}: image is {width}x{height} px ({width * height / 1e6:.0f} Mpx), above the limit of "
            f"{max_pixels / 1e6:.0f} Mpx; downscale it or raise max_pixels"
        )


def _from_pil(im: Image.Image, name: str) -> np.ndarray:
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)  # multi-frame GIF/TIFF: analyse the first frame
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)
        return _gray_to_rgb(_scale_to_uint8(arr.astype(np.float64), 65535.0 if mode != "I" else float(max(arr.max(), 1))))
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        return _gray_to_rgb(_scale_to_uint8(arr, 1.0 if arr.max() <= 1.0 else 255.0))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    try:
        rgb = im.convert("RGB")
    except (OSError, ValueError) as e:
        raise UnsupportedFormatError(f"{name}: cannot convert image mode {mode!r} to RGB ({e})") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _scale_to_uint8(arr: np.ndarray, full: float) -> np.ndarray:
    return np.clip(arr / full * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))


def _from_array(arr: np.ndarray, channels: str) -> np.ndarray:
    if channels not in ("rgb", "bgr"):
        raise ValueError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise UnsupportedFormatError(
            f"<array>: expected shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}"
        )
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.uint16:
        out = _scale_to_uint8(arr.astype(np.float64), 65535.0)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ImageReadError("<array>: float image contains NaN or infinity")
        out = _scale_to_uint8(arr.astype(np.float64), 1.0 if arr.max() <= 1.0 else 255.0)
    else:
        raise UnsupportedFormatError(f"<array>: unsupported dtype {arr.dtype} (use uint8, uint16 or float)")
    if out.ndim == 2:
        return _gray_to_rgb(out)
    if out.shape[2] == 4:
        alpha = out[..., 3:4].astype(np.float32) / 255.0
        out = (out[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    if channels == "bgr":
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


def find_images(paths: Iterable[str | os.PathLike], *, recursive: bool = False) -> list[Path]:
    """Expand files and folders into a sorted list of image paths.

    Files named explicitly are kept whatever their extension (so a bad file gets its own error
    later); folders contribute files with an image extension. A folder with no images raises.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(f for f in p.glob(pattern) if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                hint = "" if recursive else " (use --recursive to search subfolders)"
                raise NoImagesError(f"{p}: folder holds no image files{hint}")
            out.extend(found)
        else:
            out.append(p)  # missing files are reported per item by the batch, not here
    return out


def iter_frames(sources: Iterable[ImageInput], **load_kwargs: Any) -> Iterator[Frame | ImageReadError]:
    """Decode inputs one by one, yielding a Frame or the error that input raised (never raising)."""
    for i, src in enumerate(sources):
        name = str(src) if isinstance(src, (str, os.PathLike)) else f"<input {i}>"
        try:
            yield Frame(load_image(src, **load_kwargs), source=name)
        except ImageReadError as e:
            yield e

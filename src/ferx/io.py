"""Reading images from whatever a user holds: a path, bytes, a PIL image or a numpy array.

Everything becomes an (H, W, 3) uint8 RGB array with EXIF orientation applied. Each way an input can
be bad raises its own error with the path and the reason, before any model runs. What a user should
know about a readable input (a guessed value scale, clipped values, an unreadable EXIF block) is an
`InputRangeWarning` and, inside `input_notes()`, a sentence for the result's notes.
"""

from __future__ import annotations

import errno
import io
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ferx.errors import (
    ImageReadError,
    ImageTooLarge,
    ImageTooSmall,
    InputRangeWarning,
    NoImagesError,
    UnsupportedFormatError,
)
from ferx.types import Frame

ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Image.Image]

#: Extensions picked up when scanning a folder (files given explicitly are always tried).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm", ".pbm", ".pnm",
     ".avif", ".heic", ".heif"}
)
#: ISO-BMFF brands of HEIF still images (HEVC-coded: iPhone photos). AVIF is read by Pillow itself.
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
#: ISO-BMFF major brands of still images (HEIF and AVIF photos share the MP4 container with videos)
STILL_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"})
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Smallest side that can hold a detectable face.
MIN_SIDE = 16
#: Largest image decoded (12000 x 12000 = 144 Mpx fits); guards against decompression bombs.
MAX_PIXELS = 200_000_000

_NOTES: ContextVar[list[str] | None] = ContextVar("ferx_input_notes", default=None)


@contextmanager
def input_notes() -> Iterator[list[str]]:
    """Collect, as sentences for a result's notes, what `load_image` warns about in this context
    (this thread or task only: a context variable, so threads sharing an Analyzer keep theirs apart).
    The warnings are still issued.

        with input_notes() as notes:
            frame = analyzer.decode(data, source=name)
    """
    notes: list[str] = []
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


def _warn(name: str, text: str, stacklevel: int) -> None:
    """An InputRangeWarning "NAME: TEXT", and TEXT in the notes being collected."""
    notes = _NOTES.get()
    if notes is not None and text not in notes:
        notes.append(text)
    warnings.warn(f"{name}: {text}", InputRangeWarning, stacklevel=stacklevel + 1)

# Magic numbers of formats people mistake for images, for a specific message.
#: ISO-BMFF major brands of audio-only files (iTunes audio, audiobooks, protected audio, Flash audio).
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")
_NOT_IMAGE_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF", 0, "a PDF document"),
    (b"ftyp", 4, "an MP4/MOV container (a video, or audio alone)"),
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
    bit_depth: int | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Decode an image into an (H, W, 3) uint8 RGB array.

    The value scale of the input is never guessed silently. Accepted inputs, by type:

    - uint8 (arrays, 8-bit files and PIL images): 0–255.
    - uint16 arrays and PIL images built in memory (`Image.fromarray`, mode "I;16" or "I"): the
      samples of a `bit_depth`-bit sensor, 0 … 2**bit_depth − 1. With `bit_depth=None` the depth is
      inferred as the smallest standard depth that holds the data's maximum (≤ 255 → 8, ≤ 1023 → 10,
      ≤ 4095 → 12, ≤ 16383 → 14, else 16), with an `InputRangeWarning` whenever that is below 16
      (a guess); pass `bit_depth` to state it and silence the warning. Values above the stated depth
      raise. Reduction to 8 bits drops the low bits, which is exact both for 8-bit data shifted up
      (v << 4 for 12 bits) and for full-range scaling (v · 4095 / 255).
    - 16-bit files (PNG, TIFF, PGM/PPM; PIL images decoded from a file): 16-bit, as the file
      declares (Pillow widens a PGM's maxval to 65535), unless `bit_depth` says otherwise. A file
      whose values all stay ≤ 4095 reads nearly black, so it gets an `InputRangeWarning` suggesting
      `bit_depth=12`. Mode "I" (32-bit) must hold 0–65535.
    - float (arrays, PIL mode "F"): [0, 1]. Values at most `RANGE_TOLERANCE` (0.25) outside are
      resampling overshoot: they are clipped, with an `InputRangeWarning`. Anything else — 0–255
      floats, [−1, 1] network inputs — raises `UnsupportedFormatError` naming the range seen and
      the conversion to use; NaN or infinity raise `ImageReadError`.
    - signed integer, bool and other dtypes raise `UnsupportedFormatError`.

    Args:
        src: a file path, encoded bytes, a binary file object (read to its end), a PIL image, or a numpy
            array (H, W), (H, W, 1), (H, W, 3)
            or (H, W, 4) of uint8, uint16 or float.
        channels: channel order of a 3/4-channel numpy input ("bgr" for OpenCV arrays). Ignored for
            files, bytes and PIL images, whose order is known.
        min_side: smallest accepted width or height.
        max_pixels: largest accepted width × height (checked from the header, before decoding).
        bit_depth: significant bits of 16-bit integer input (8, 10, 12, 14 or 16); None infers it
            for in-memory data and takes 16 for files. 8-bit and float inputs ignore it, so one
            value can serve a batch of mixed files.
        name: what error messages call the input (default: its path, or "<bytes>", "<array>", the
            PIL image's file name): a caller holding the bytes of a named upload or URI passes it.

    Raises:
        ImageReadError: missing, empty, truncated or corrupt input (also a lazily opened PIL image
            whose data turns out to be truncated), NaN/infinite floats, values above `bit_depth`.
        UnsupportedFormatError: a known non-image format, an array of unusable shape or dtype, or
            float values outside [0, 1].
        ImageTooSmall, ImageTooLarge (both `ImageSizeError`): smaller than `min_side`, larger than
            `max_pixels`.
    """
    if bit_depth is not None and bit_depth not in BIT_DEPTHS:
        raise ValueError(f"bit_depth must be one of {BIT_DEPTHS} or None, got {bit_depth!r}")
    if isinstance(src, np.ndarray):
        rgb = _from_array(src, channels, bit_depth)
        _check_size(rgb.shape[1], rgb.shape[0], name or "<array>", min_side, max_pixels)
        return rgb
    if isinstance(src, Image.Image):
        name = name or getattr(src, "filename", "") or "<PIL image>"
        _check_size(src.width, src.height, name, min_side, max_pixels)
        # A PIL image may still be lazily opened: its pixels are read only now, and a truncated
        # file must fail here as an ImageReadError rather than as a raw OSError from inside PIL.
        _load_pil(src, name)
        return _from_pil(_exif_transposed(src, name), name, bit_depth, from_file=src.format is not None)
    if isinstance(src, (bytes, bytearray, memoryview)):
        data, name = bytes(src), name or "<bytes>"
    elif isinstance(src, (str, os.PathLike)):
        if isinstance(src, str) and _URL.match(src):  # Path() would fold "//" and report "no such file"
            raise UnsupportedFormatError(
                f"{src}: URLs are not supported; download the image and pass the file or its bytes "
                "(`ferx batch` reads s3://, gs:// and file:// URIs through fsspec)"
            )
        data, name = read_file(Path(src)), name or str(src)
    elif callable(getattr(src, "read", None)):  # a binary file object: an upload, io.BytesIO (a tryout)
        name = name or file_object_name(src) or f"<{type(src).__name__}>"
        data = _read_file_object(src, name)
    else:
        raise UnsupportedFormatError(
            f"cannot read an image from a {type(src).__name__}; pass a path, bytes, a binary file object, "
            "a PIL image or a numpy array"
        )
    if not data:
        raise ImageReadError(f"{name}: file is empty (0 bytes)")
    if _is_heif(data):
        _register_heif(name)
    elif _is_colour_png16(data):  # Pillow keeps only the high byte of 16-bit colour PNGs
        return _colour_png16(data, name, bit_depth, min_side, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, with a clearer message
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise _unidentified(data, name) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageReadError(f"{name}: image data is truncated or corrupt ({e})") from None
    _check_size(im.width, im.height, name, min_side, max_pixels)
    _load_pil(im, name)
    return _from_pil(_exif_transposed(im, name), name, bit_depth, from_file=True)


#: Bit depths accepted for 16-bit integer input.
BIT_DEPTHS = (8, 10, 12, 14, 16)
#: How far outside [0, 1] a float image may stray and still be read (clipped, with a warning).
#: Resampling a full black-to-white edge overshoots by up to 0.074 with PIL's bicubic (Keys
#: a = −0.5), 0.111 with OpenCV's INTER_CUBIC (a = −0.75) and 0.115 with Lanczos-3; separable 2-D
#: resampling compounds it at the corner of a saturated region, up to (1 + 0.115)² − 1 ≈ 0.24
#: (a 2× Lanczos upscale of a photo with a white patch measured 0.19). [−1, 1] data (some pixel
#: darker than 38 % grey) and 0–255 data (some pixel brighter than 1.25) stay outside 0.25.
RANGE_TOLERANCE = 0.25


def _is_heif(data: bytes) -> bool:
    """An ISO-BMFF file whose brands name a HEIF still image (an iPhone's HEIC photo)."""
    if data[4:8] != b"ftyp":
        return False
    size = int.from_bytes(data[:4], "big")
    brands = [data[8:12]] + [data[i:i + 4] for i in range(16, min(size, 64), 4)]
    return data[8:12] not in (b"avif", b"avis") and any(b in HEIF_BRANDS for b in brands)


def _register_heif(name: str) -> None:
    """Teach Pillow to open HEIF files (pillow-heif, the `heic` extra), or say how to get it."""
    try:
        from pillow_heif import register_heif_opener
    except ModuleNotFoundError:
        raise UnsupportedFormatError(
            f"{name}: this is a HEIC/HEIF photo; reading it needs pillow-heif: pip install 'ferx[heic]'"
        ) from None
    register_heif_opener()  # idempotent


def _is_colour_png16(data: bytes) -> bool:
    """A PNG whose IHDR declares 16 bits per sample and colour (RGB, RGBA, grey + alpha)."""
    return data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and data[24] == 16 and data[25] in (2, 4, 6)


def _colour_png16(data: bytes, name: str, bit_depth: int | None, min_side: int, max_pixels: int) -> np.ndarray:
    """A 16-bit colour PNG read at full precision (FFmpeg's PNG decoder through PyAV, a core
    dependency), then reduced as 16-bit grey files are: 16 bits unless `bit_depth` says otherwise,
    with a warning (and note) when every value fits in 12 bits."""
    import av

    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    _check_size(width, height, name, min_side, max_pixels)
    try:
        with av.open(io.BytesIO(data), format="png_pipe") as container:
            frame = next(container.decode(video=0))
            fmt = "rgba64le" if frame.format.name.startswith(("rgba", "ya")) else "rgb48le"
            arr = frame.to_ndarray(format=fmt)
    except (av.FFmpegError, StopIteration, ValueError) as e:
        raise ImageReadError(f"{name}: image data is truncated or corrupt ({e})") from None
    rgb = _int16_to_uint8(arr, bit_depth or 16, name)
    if bit_depth is None and int(arr[..., :3].max()) <= 4095:
        _warn_12_bits(name, int(arr[..., :3].max()), stacklevel=4)
    if rgb.shape[2] == 4:
        alpha = rgb[..., 3:4].astype(np.float32) / 255.0
        rgb = (rgb[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def _warn_12_bits(name: str, peak: int, stacklevel: int) -> None:
    _warn(name, f"16-bit image whose values stay <= {peak} (12 bits), so it reads nearly black; if the camera "
                "wrote 12 bits, read it with ferx.load_image(path, bit_depth=12) (or the sensor's depth) and "
                "analyse that array", stacklevel + 1)


def _load_pil(im: Image.Image, name: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"{name}: image data is truncated or corrupt ({e})") from None


def _exif_transposed(im: Image.Image, name: str) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception as e:  # a broken EXIF block should not lose an otherwise good image
        _warn(name, f"ignoring unreadable EXIF orientation ({e})", stacklevel=3)
        return im


def read_file(path: Path) -> bytes:
    """The bytes of an image file, or an ImageReadError saying what is wrong with the path (missing,
    a broken or looping link, a folder, unreadable); `ferx batch` reads its local inputs through it."""
    if _dangling(path):
        raise ImageReadError(f"{path}: broken symbolic link ({_link_trouble(path)})")
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image (`ferx analyze FOLDER` reads its images; in "
                             "Python, analyze_many(ferx.io.find_images([FOLDER])))")
    try:
        return path.read_bytes()
    except OSError as e:
        raise ImageReadError(f"{path}: cannot read file ({e.strerror or e})") from None


def _link_trouble(path: Path) -> str:
    try:
        target = os.readlink(path)
    except OSError as e:
        return e.strerror or str(e)
    try:
        path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"it points to {target}, which leads back to itself"
    return f"it points to {target}, which does not exist"


def file_object_name(src: Any) -> str | None:
    """The path a file object was opened from (`open(path, "rb")`), if `src` is a file object that says
    one (not a descriptor)."""
    name = getattr(src, "name", None) if callable(getattr(src, "read", None)) else None
    return name if isinstance(name, str) and name else None


def _read_file_object(src: Any, name: str) -> bytes:
    """The rest of a binary file object's bytes."""
    import inspect

    text = f"{name}: a text-mode file object; open the image in binary mode ('rb')"
    if isinstance(src, io.TextIOBase):
        raise UnsupportedFormatError(text)
    try:
        data = src.read()
    except UnicodeDecodeError:  # a text file object of its own kind
        raise UnsupportedFormatError(text) from None
    if inspect.iscoroutine(data):  # an async upload (Starlette's UploadFile): its bytes are awaited
        data.close()
        raise UnsupportedFormatError(f"{name}: an async file object; pass its bytes (`await upload.read()`)")
    if data is None:
        raise ImageReadError(f"{name}: the stream had no data ready (a non-blocking stream)")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UnsupportedFormatError(text)
    if not data:  # an upload read once already: the object is at its end, not empty
        raise ImageReadError(f"{name}: no bytes left to read from this file object (at its end: seek(0) first?)")
    return bytes(data)


def _unidentified(data: bytes, name: str) -> ImageReadError:
    if data[4:8] == b"ftyp" and data[8:12] in STILL_BRANDS:
        # a HEIF/AVIF still whose data cannot be decoded: not "a video" (it shares MP4's container)
        return ImageReadError(f"{name}: a HEIC/AVIF image whose data is truncated or corrupt")
    if data[4:8] == b"ftyp" and data[8:12] in _AUDIO_BRANDS:  # the service called an .m4a "a video"
        return UnsupportedFormatError(f"{name}: this is an MP4 audio file (M4A), not a still image ferx can read")
    for magic, offset, what in _NOT_IMAGE_SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return UnsupportedFormatError(
                f"{name}: this is {what}, not a still image ferx can read "
                "(JPEG, PNG, WebP, AVIF, HEIC, BMP, TIFF, GIF, PNM)"
            )
    head = data[:64]
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return UnsupportedFormatError(f"{name}: this is a text file, not an image")
    return ImageReadError(f"{name}: not a recognisable image (unknown format or corrupt header)")


def _check_size(width: int, height: int, name: str, min_side: int, max_pixels: int) -> None:
    if min(width, height) < min_side:
        raise ImageTooSmall(
            f"{name}: image is {width}x{height} px, too small to hold a face (need at least {min_side} px per side)"
        )
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{name}: image is {width}x{height} px ({width * height / 1e6:.0f} Mpx), above the limit of "
            f"{max_pixels / 1e6:.0f} Mpx; downscale it or raise the limit (`max_image_pixels` in the "
            "analyzer configuration, `max_pixels` of load_image)"
        )


def _from_pil(im: Image.Image, name: str, bit_depth: int | None, *, from_file: bool) -> np.ndarray:
    mode = im.mode
    try:
        if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
            arr = np.asarray(im)
            if mode == "I" and arr.size and (arr.min() < 0 or arr.max() > 65535):
                raise UnsupportedFormatError(
                    f"{name}: 32-bit integer image with values in [{arr.min()}, {arr.max()}]; "
                    "ferx reads integer images of up to 16 bits (0–65535)"
                )
            # A file declares 16 bits; an image built in memory carries no depth, like a uint16 array.
            depth = bit_depth if bit_depth is not None else (16 if from_file else None)
            gray = _int16_to_uint8(arr, depth, name)
            if from_file and bit_depth is None and gray.size and int(arr.max()) <= 4095:
                _warn_12_bits(name, int(arr.max()), stacklevel=3)
            return _gray_to_rgb(gray)
        if mode == "F":
            return _gray_to_rgb(_float_to_uint8(np.asarray(im, dtype=np.float64), name))
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(background, rgba)
        rgb = im.convert("RGB")
    except (OSError, ValueError) as e:
        raise UnsupportedFormatError(f"{name}: cannot convert image mode {mode!r} to RGB ({e})") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _int16_to_uint8(arr: np.ndarray, bit_depth: int | None, name: str) -> np.ndarray:
    """Integer samples of `bit_depth` bits (None: inferred from the maximum) → uint8."""
    peak = int(arr.max()) if arr.size else 0
    if bit_depth is None:
        bit_depth = next((d for d in BIT_DEPTHS if peak < 2**d), 16)
        if bit_depth < 16:
            _warn(name, f"integer image (more than 8 bits) with maximum {peak}; read as {bit_depth}-bit data "
                        f"(0–{2**bit_depth - 1}). Pass bit_depth= to load_image to state the depth", stacklevel=4)
    elif peak >= 2**bit_depth:
        raise ImageReadError(
            f"{name}: values up to {peak} do not fit bit_depth={bit_depth} (0–{2**bit_depth - 1}); "
            "pass the sensor's real depth, or None to infer it"
        )
    # Dropping the low bits is exact both for 8-bit data shifted up (v << 4) and for full-range
    # scaling (v * 4095 / 255); rescaling by 255 / 4095 would be off by one for the former.
    return (arr.astype(np.uint32) >> (bit_depth - 8)).astype(np.uint8)


def _float_to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    """Floats in [0, 1] (overshoot up to RANGE_TOLERANCE clipped, with a warning) → uint8."""
    if not np.all(np.isfinite(arr)):
        raise ImageReadError(f"{name}: float image contains NaN or infinity")
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    seen = f"float image values span [{lo:.6g}, {hi:.6g}]"
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        if lo < 0 and lo >= -1 - RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE:
            fix = "for [-1, 1] data pass (x + 1) / 2"
        elif lo >= -RANGE_TOLERANCE and hi <= 255 + RANGE_TOLERANCE:
            fix = "for 0–255 data pass x / 255, or x.astype(np.uint8)"
        else:
            fix = "rescale it to [0, 1], or pass uint8 (0–255)"
        raise UnsupportedFormatError(f"{name}: {seen}; ferx reads float images in [0, 1] ({fix})")
    if lo < 0 or hi > 1:
        _warn(name, f"{seen}, slightly outside [0, 1] (resampling overshoot?); clipped to [0, 1]", stacklevel=4)
    return np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))


def _from_array(arr: np.ndarray, channels: str, bit_depth: int | None) -> np.ndarray:
    if channels not in ("rgb", "bgr"):
        raise ValueError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (3, 4):
        raise UnsupportedFormatError(
            f"<array>: shape {arr.shape} looks channels-first (C, H, W), as torch tensors are; ferx reads "
            "(H, W, C): pass arr.transpose(1, 2, 0)"
        )
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise UnsupportedFormatError(
            f"<array>: expected shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}"
        )
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.uint16:
        out = _int16_to_uint8(arr, bit_depth, "<array>")
    elif np.issubdtype(arr.dtype, np.floating):
        out = _float_to_uint8(arr.astype(np.float64), "<array>")
    else:
        # Signed integers have no agreed scale (0–255? centred at 0?): make the caller say it.
        raise UnsupportedFormatError(
            f"<array>: unsupported dtype {arr.dtype}; pass uint8 (0–255), uint16 (with bit_depth) "
            "or float in [0, 1], e.g. arr.astype(np.uint8) for 0–255 integers"
        )
    if out.ndim == 2:
        return _gray_to_rgb(out)
    if out.shape[2] == 4:
        alpha = out[..., 3:4].astype(np.float32) / 255.0
        out = (out[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    if channels == "bgr":
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


def folder_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    """The files of `folder` (and its subfolders with `recursive`), sorted, with its broken and
    looping symbolic links among them: those fail later with their own error instead of vanishing
    from the run (a tryout's folder of links to a moved photo library reported nothing)."""
    pattern = "**/*" if recursive else "*"
    return sorted(f for f in folder.glob(pattern) if f.is_file() or _dangling(f))


def _dangling(path: Path) -> bool:
    """A symbolic link whose target is missing or that loops (`exists()` follows links)."""
    try:
        return path.is_symlink() and not path.exists()
    except OSError:  # a loop raises on some Python versions instead of returning False
        return True


def find_images(paths: Iterable[str | os.PathLike], *, recursive: bool = False) -> list[Path]:
    """Expand files and folders into a sorted list of image paths.

    Files named explicitly are kept whatever their extension (so a bad file gets its own error
    later); folders contribute files with an image extension. A folder with no images raises.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [f for f in folder_files(p, recursive=recursive) if f.suffix.lower() in IMAGE_EXTENSIONS]
            if not found:
                hint = "" if recursive else " (use --recursive to search subfolders)"
                raise NoImagesError(f"{p}: folder holds no image files{hint}")
            out.extend(found)
        else:
            out.append(p)  # missing files are reported per item by the batch, not here
    return out


def one_or_many(inputs: Any) -> Iterable[Any]:
    """A batch of inputs as an iterable: a single input (a path, bytes, a PIL image, an array, a
    Frame) becomes a list of one; anything else is returned as it is. `analyze_many("photo.jpg")`
    iterated the string and reported each character as a missing file (9 failures for one photo)."""
    if isinstance(inputs, (str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Image.Image, Frame)):
        return [inputs]
    if callable(getattr(inputs, "read", None)):  # a file object iterates its lines: it is one input
        return [inputs]
    return inputs


def iter_frames(sources: Iterable[ImageInput], **load_kwargs: Any) -> Iterator[Frame | ImageReadError]:
    """Decode inputs one by one, yielding a Frame or the error that input raised (never raising)."""
    for i, src in enumerate(sources):
        name = str(src) if isinstance(src, (str, os.PathLike)) else f"<input {i}>"
        try:
            yield Frame(load_image(src, **load_kwargs), source=name)
        except ImageReadError as e:
            yield e

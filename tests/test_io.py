import io
import warnings

import numpy as np
import pytest
from PIL import Image

from ferx import load_image
from ferx.errors import (
    ImageReadError,
    ImageSizeError,
    ImageTooLarge,
    ImageTooSmall,
    InputRangeWarning,
    NoImagesError,
    UnsupportedFormatError,
)
from ferx.io import find_images

from tests.conftest import lfw_paths


def _jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo_path():
    return lfw_paths("neutral", 1)[0]


def test_path_bytes_pil_and_array_agree(photo_path):
    from_path = load_image(photo_path)
    assert from_path.dtype == np.uint8 and from_path.ndim == 3 and from_path.shape[2] == 3
    np.testing.assert_array_equal(load_image(photo_path.read_bytes()), from_path)
    np.testing.assert_array_equal(load_image(Image.open(photo_path)), from_path)
    np.testing.assert_array_equal(load_image(from_path), from_path)
    np.testing.assert_array_equal(load_image(from_path[..., ::-1].copy(), channels="bgr"), from_path)


def test_grayscale_rgba_16bit_and_float(photo_path):
    gray = np.asarray(Image.open(photo_path).convert("L"))
    out = load_image(gray)
    assert out.shape == gray.shape + (3,) and (out[..., 0] == gray).all()
    rgba = np.dstack([load_image(photo_path), np.zeros(gray.shape, np.uint8)])  # fully transparent
    assert (load_image(rgba) == 255).all()  # composited on white
    g16 = gray.astype(np.uint16) * 257
    np.testing.assert_array_equal(load_image(g16)[..., 0], gray)
    buf = io.BytesIO()
    Image.fromarray(g16).save(buf, "PNG")  # a real 16-bit PNG file
    assert Image.open(io.BytesIO(buf.getvalue())).mode.startswith("I;16")
    assert np.abs(load_image(buf.getvalue())[..., 0].astype(int) - gray).max() <= 1
    np.testing.assert_array_equal(load_image(gray / 255.0)[..., 0], gray)


def test_exif_orientation_is_applied(photo_path):
    img = Image.open(photo_path).convert("RGB").crop((0, 0, 300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = load_image(_jpeg_bytes(img, exif=exif.tobytes()))
    assert out.shape[:2] == (300, 200)


@pytest.mark.parametrize(
    "data, error, message",
    [
        (b"", ImageReadError, "empty"),
        (b"%PDF-1.4\n%binary", UnsupportedFormatError, "PDF"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, UnsupportedFormatError, "MP4"),
        (b"hello, this is a plain text file\n", UnsupportedFormatError, "text file"),
        (bytes(range(256)) * 4, ImageReadError, "not a recognisable image"),
    ],
)
def test_non_images_get_specific_errors(data, error, message):
    with pytest.raises(error, match=message):
        load_image(data)


def test_truncated_and_corrupt_jpeg(photo_path):
    data = photo_path.read_bytes()
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])
    corrupt = data[:200] + b"\xff" * 50 + bytes(len(data) - 250)
    with pytest.raises(ImageReadError):
        load_image(corrupt)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageReadError, match="is a folder, not an image .`ferx analyze FOLDER` reads its images"):
        load_image(tmp_path)


def test_tiny_image_is_rejected_with_its_size():
    with pytest.raises(ImageTooSmall, match="^<bytes>: image is 1x1 px, too small"):
        load_image(_jpeg_bytes(Image.new("RGB", (1, 1))))
    with pytest.raises(ImageSizeError, match="too small"):
        load_image(np.zeros((1, 1, 3), np.uint8))
    # the caller that holds the bytes of a named upload or URI gets errors that name it
    with pytest.raises(ImageTooSmall, match="^s3://b/tiny.jpg: image is 1x1 px"):
        load_image(_jpeg_bytes(Image.new("RGB", (1, 1))), name="s3://b/tiny.jpg")
    with pytest.raises(ImageReadError, match="^upload.png: image data is truncated"):
        load_image(_jpeg_bytes(Image.new("RGB", (64, 64)))[:200], name="upload.png")


def test_huge_image_is_decoded_and_limit_is_checked_before_decoding():
    big = Image.new("L", (12000, 12000), 128)
    data = _jpeg_bytes(big, quality=50)
    out = load_image(data)
    assert out.shape == (12000, 12000, 3)
    with pytest.raises(ImageTooLarge, match="12000x12000 px .*above the limit"):
        load_image(data, max_pixels=100_000_000)


def test_bad_array_shapes_and_dtypes():
    with pytest.raises(UnsupportedFormatError, match="expected shape"):
        load_image(np.zeros((20, 20, 2), np.uint8))
    with pytest.raises(UnsupportedFormatError, match="dtype"):
        load_image(np.zeros((20, 20, 3), np.int64))
    with pytest.raises(ImageReadError, match="NaN"):
        load_image(np.full((20, 20), np.nan))
    with pytest.raises(UnsupportedFormatError, match="cannot read an image from a int"):
        load_image(42)  # type: ignore[arg-type]


def test_find_images(tmp_path):
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    Image.new("RGB", (32, 32)).save(tmp_path / "sub" / "b.JPG")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in find_images([tmp_path])] == ["a.png"]
    assert sorted(p.name for p in find_images([tmp_path], recursive=True)) == ["a.png", "b.JPG"]
    with pytest.raises(NoImagesError, match="no image files.*--recursive"):
        find_images([_empty(tmp_path)])
    explicit = find_images([tmp_path / "notes.txt"])  # explicit files are kept, to fail loudly later
    assert explicit == [tmp_path / "notes.txt"]


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "readme.md").write_text("no images here")
    return d


# --- value scale (issue 10): never guessed silently ---------------------------------------------


@pytest.fixture(scope="module")
def photo_u8(photo_path):
    return load_image(photo_path)


def test_float_overshoot_is_clipped_with_a_warning(photo_u8):
    f = photo_u8 / 255.0
    brightest = np.unravel_index(np.argmax(f), f.shape)
    f[brightest] = 1.0001  # what bicubic resizing leaves at a highlight
    with pytest.warns(InputRangeWarning, match=r"span \[[\d.]+, 1.0001\].*clipped"):
        out = load_image(f)
    assert out[brightest] == 255
    out[brightest] = photo_u8[brightest]
    np.testing.assert_array_equal(out, photo_u8)  # every other pixel as in the uint8 load


def test_float_overshoot_from_a_real_resize_is_read(photo_u8):
    """A float photo upscaled with Lanczos overshoots [0, 1] at its edges; it is clipped, not rescaled."""
    h, w = photo_u8.shape[:2]
    gray = np.asarray(Image.fromarray(photo_u8).convert("L"), np.float32) / 255.0
    gray[100:150, 100:150] = 1.0  # a saturated highlight against a darker face: a ringing edge
    big = np.asarray(Image.fromarray(gray, "F").resize((w * 2, h * 2), Image.LANCZOS))
    assert big.max() > 1.0
    with pytest.warns(InputRangeWarning, match="clipped"):
        out = load_image(big)
    # same brightness as the data says: the highlight stays white, the photo keeps its mean
    assert out[220:280, 220:280].min() == 255
    assert abs(out.mean() - big.clip(0, 1).mean() * 255) < 0.5


@pytest.mark.parametrize(
    "convert, message",
    [
        (lambda u8: u8 / 127.5 - 1.0, r"span \[-1, 1\].*\(x \+ 1\) / 2"),  # network-normalised input
        (lambda u8: u8.astype(np.float32), r"span \[0, 255\].*x / 255"),  # 0–255 floats
        (lambda u8: u8 * 4.0, r"span \[0, 1020\].*rescale it to \[0, 1\]"),
    ],
)
def test_float_outside_zero_one_raises_with_the_range_seen(photo_u8, convert, message):
    lo, hi = int(photo_u8.min()), int(photo_u8.max())
    stretched = np.round((photo_u8.astype(float) - lo) * 255 / (hi - lo))  # full 0–255, as normalisers leave it
    data = convert(stretched)
    with pytest.raises(UnsupportedFormatError, match=message):
        load_image(data)


def test_uint16_holding_8_bit_values_warns_and_equals_the_uint8_load(photo_u8):
    with pytest.warns(InputRangeWarning, match="read as 8-bit"):
        out = load_image(photo_u8.astype(np.uint16))
    np.testing.assert_array_equal(out, photo_u8)


@pytest.mark.parametrize("widen", [lambda v: v << 4, lambda v: np.round(v * (4095 / 255)).astype(np.uint16)])
def test_12_bit_data_is_inferred_or_stated(photo_u8, widen):
    twelve = widen(photo_u8.astype(np.uint16))
    assert 255 < twelve.max() <= 4095
    with pytest.warns(InputRangeWarning, match="read as 12-bit"):
        np.testing.assert_array_equal(load_image(twelve), photo_u8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stating the depth silences the guess
        np.testing.assert_array_equal(load_image(twelve, bit_depth=12), photo_u8)


def test_explicit_bit_depth_is_obeyed_and_checked(photo_u8):
    eight_in_16 = photo_u8.astype(np.uint16)
    assert load_image(eight_in_16, bit_depth=16).max() == 0  # told 16 bits: genuinely near-black
    with pytest.raises(ImageReadError, match="do not fit bit_depth=10"):
        load_image(eight_in_16 << 4, bit_depth=10)
    with pytest.raises(ValueError, match="bit_depth must be one of"):
        load_image(eight_in_16, bit_depth=11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_image(photo_u8, bit_depth=12), photo_u8)  # 8-bit input: ignored


def test_16_bit_files_are_16_bit_and_warn_when_nearly_black(photo_path, photo_u8):
    gray = np.asarray(Image.open(photo_path).convert("L"))
    buf = io.BytesIO()
    Image.fromarray(gray.astype(np.uint16) << 4).save(buf, "PNG")  # 12-bit camera data in a 16-bit PNG
    data = buf.getvalue()
    with pytest.warns(InputRangeWarning, match="bit_depth=12"):
        dark = load_image(data)
    assert dark.max() <= 15  # the file says 16 bits, so it is read as 16 bits
    np.testing.assert_array_equal(load_image(data, bit_depth=12)[..., 0], gray)
    # the same pixels as a PIL image built in memory carry no depth: inferred, like a uint16 array
    with pytest.warns(InputRangeWarning, match="read as 12-bit"):
        np.testing.assert_array_equal(load_image(Image.fromarray(gray.astype(np.uint16) << 4))[..., 0], gray)


def test_signed_integers_are_refused_with_a_fix(photo_u8):
    with pytest.raises(UnsupportedFormatError, match=r"int16.*astype\(np.uint8\)"):
        load_image(photo_u8.astype(np.int16))
    with pytest.raises(UnsupportedFormatError, match="32-bit integer image with values in"):
        load_image(Image.fromarray((photo_u8[..., 0].astype(np.int32) - 128)))


def test_truncated_lazily_opened_pil_image_raises_image_read_error(photo_path, tmp_path):
    path = tmp_path / "truncated.jpg"
    data = photo_path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with Image.open(path) as im:  # only the header is read here
        with pytest.raises(ImageReadError, match="truncated.jpg: image data is truncated or corrupt"):
            load_image(im)


def test_size_limit_names_the_config_key():
    with pytest.raises(ImageSizeError, match="max_image_pixels"):
        load_image(np.zeros((100, 100, 3), np.uint8), max_pixels=5000)


def test_analyzer_finds_the_face_in_a_float_photo_with_overshoot(analyzer, photo_u8):
    f = photo_u8 / 255.0
    f[0, 0, 0] = 1.0001
    with pytest.warns(InputRangeWarning):
        faces = analyzer.analyze(f).faces
    expected = analyzer.analyze(photo_u8).faces
    assert len(faces) == len(expected) == 1
    np.testing.assert_allclose(faces.boxes, expected.boxes, atol=2)


# -- issue 24: inputs a newcomer brings -----------------------------------------------------------
def _png16(rgb16: np.ndarray) -> bytes:
    """A 16-bit RGB (or RGBA) PNG written by hand (Pillow cannot write one): IHDR, one IDAT, IEND."""
    import struct
    import zlib

    h, w, c = rgb16.shape
    big = rgb16.astype(">u2")
    raw = b"".join(b"\x00" + big[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_16_bit_colour_png_is_read_at_full_depth_and_warns_when_nearly_black(happy_photo):
    from ferx.io import input_notes

    rgb = load_image(happy_photo)
    twelve = _png16(rgb.astype(np.uint16) << 4)  # 12-bit camera data in a 16-bit RGB PNG
    assert Image.open(io.BytesIO(twelve)).mode == "RGB"  # Pillow keeps the high byte only, silently
    with input_notes() as notes, pytest.warns(InputRangeWarning, match="bit_depth=12"):
        dark = load_image(twelve)
    assert dark.max() <= 15 and len(notes) == 1 and "nearly black" in notes[0]
    np.testing.assert_array_equal(load_image(twelve, bit_depth=12), rgb)
    full = _png16(rgb.astype(np.uint16) * 257)  # 16-bit data: exactly the 8-bit photo, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_image(full), rgb)
    rgba = np.dstack([rgb.astype(np.uint16) * 257, np.zeros(rgb.shape[:2], np.uint16)])
    assert (load_image(_png16(rgba)) == 255).all()  # transparent: composited on white, as 8-bit RGBA is
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        load_image(full[: len(full) // 2])


def test_input_notes_are_collected_only_inside_the_block_and_per_thread(photo_u8):
    from concurrent.futures import ThreadPoolExecutor

    from ferx.io import input_notes

    over = photo_u8 / 255.0
    over[0, 0, 0] = 1.1

    def noted(x):
        with input_notes() as notes, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_image(x)
        return notes

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(noted, [over, photo_u8] * 6))
    assert all(len(n) == 1 and "clipped" in n[0] for n in got[::2]) and all(n == [] for n in got[1::2])


def test_urls_and_channels_first_arrays_say_what_is_wrong(photo_u8):
    with pytest.raises(UnsupportedFormatError, match=r"^https://example.com/a/b.jpg: URLs are not supported"):
        load_image("https://example.com/a/b.jpg")
    with pytest.raises(UnsupportedFormatError, match=r"channels-first.*transpose\(1, 2, 0\)"):
        load_image(np.ascontiguousarray(photo_u8.transpose(2, 0, 1)))
    with pytest.raises(UnsupportedFormatError, match="channels-first"):
        load_image(np.ascontiguousarray(photo_u8[..., :1].transpose(2, 0, 1)))


def test_heic_and_avif_photos_are_read(happy_photo, tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    rgb = load_image(happy_photo)
    heic, avif = tmp_path / "photo.heic", tmp_path / "photo.avif"
    pillow_heif.from_bytes("RGB", (rgb.shape[1], rgb.shape[0]), rgb.tobytes()).save(heic, quality=95)
    Image.fromarray(rgb).save(avif, quality=95)
    for path in (heic, avif):
        out = load_image(path)
        assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).mean() < 3, path.name
    assert find_images([tmp_path]) == [avif, heic]


def test_heic_without_pillow_heif_says_how_to_get_it(happy_photo, tmp_path, monkeypatch):
    import sys

    pillow_heif = pytest.importorskip("pillow_heif")
    rgb = load_image(happy_photo)
    buf = io.BytesIO()
    pillow_heif.from_bytes("RGB", (rgb.shape[1], rgb.shape[0]), rgb.tobytes()).save(buf, format="HEIF")
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as if the `heic` extra were not installed
    with pytest.raises(UnsupportedFormatError, match=r"HEIC/HEIF photo.*pip install 'ferx\[heic\]'"):
        load_image(buf.getvalue())


def test_one_or_many_keeps_a_single_input_whole(happy_photo, photo_u8):
    from ferx import Frame
    from ferx.io import one_or_many

    for single in (str(happy_photo), happy_photo, happy_photo.read_bytes(), photo_u8, Image.fromarray(photo_u8),
                   Frame(photo_u8)):
        assert len(list(one_or_many(single))) == 1
    paths = [happy_photo, happy_photo]
    assert one_or_many(paths) is paths



def test_a_damaged_heic_is_called_a_damaged_heic_not_a_video(tmp_path):
    """A HEIC with a garbage body was called "an MP4/MOV container (a video)" (both use ISO-BMFF)."""
    path = tmp_path / "fake.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"garbage" * 20)
    with pytest.raises(ImageReadError, match="fake.heic: a HEIC/AVIF image whose data is truncated or corrupt"):
        load_image(path)


def test_an_audio_file_is_not_called_a_video(tmp_path):
    """The service answered an .m4a upload with "an MP4/MOV container (a video)" (tryout)."""
    from ferx.errors import UnsupportedFormatError

    m4a = tmp_path / "voice.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A isommp42" + b"\x00" * 64)
    with pytest.raises(UnsupportedFormatError, match="an MP4 audio file"):
        load_image(m4a)
    other = tmp_path / "clip.bin"
    other.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41" + b"\x00" * 64)
    with pytest.raises(UnsupportedFormatError, match="a video, or audio alone"):
        load_image(other)


def test_a_binary_file_object_is_read_as_its_bytes(happy_photo):
    """`analyzer.analyze(io.BytesIO(...))` raised "cannot read an image from a BytesIO" (tryout): file
    objects are how web code holds uploads."""
    import io

    from ferx.errors import UnsupportedFormatError

    data = happy_photo.read_bytes()
    assert np.array_equal(load_image(io.BytesIO(data)), load_image(data))
    with open(happy_photo, "rb") as f:
        assert np.array_equal(load_image(f), load_image(data))
    with open(happy_photo) as f, pytest.raises(UnsupportedFormatError, match="binary mode"):  # text mode
        load_image(f)
    with open(happy_photo, encoding="latin-1") as f, pytest.raises(UnsupportedFormatError, match="binary mode"):
        load_image(f)

    class Upload:  # an async upload (Starlette's UploadFile): its bytes must be awaited
        async def read(self) -> bytes:
            return data

    with pytest.raises(UnsupportedFormatError, match="await"):
        load_image(Upload())


def test_a_file_object_read_to_its_end_is_not_called_empty(happy_photo):
    """A BytesIO read once already gave "file is empty (0 bytes)"; the Analyzer names an open file by
    its path (it said "<BufferedReader>")."""
    import io

    from ferx import Analyzer

    spent = io.BytesIO(happy_photo.read_bytes())
    spent.read()
    with pytest.raises(ImageReadError, match="seek"):
        load_image(spent)
    with Analyzer(explain=None) as analyzer, open(happy_photo, "rb") as f:
        assert analyzer.analyze(f).source == str(happy_photo)

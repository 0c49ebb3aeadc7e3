import io

import numpy as np
import pytest
from PIL import Image

from ferx import load_image
from ferx.errors import ImageReadError, ImageSizeError, NoImagesError, UnsupportedFormatError
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
    with pytest.raises(ImageReadError, match="is a directory"):
        load_image(tmp_path)


def test_tiny_image_is_rejected_with_its_size():
    with pytest.raises(ImageSizeError, match="1x1 px, too small"):
        load_image(_jpeg_bytes(Image.new("RGB", (1, 1))))
    with pytest.raises(ImageSizeError, match="too small"):
        load_image(np.zeros((1, 1, 3), np.uint8))


def test_huge_image_is_decoded_and_limit_is_checked_before_decoding():
    big = Image.new("L", (12000, 12000), 128)
    data = _jpeg_bytes(big, quality=50)
    out = load_image(data)
    assert out.shape == (12000, 12000, 3)
    with pytest.raises(ImageSizeError, match="12000x12000 px .*above the limit"):
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

"""Box decoding on hand-made feature maps; torch (training) and numpy (inference) decoding agree."""

import numpy as np
import pytest

from ferx.detect.onepass_decode import decode, grid_points, letterbox, level_strides, nms, postprocess


def _maps(input_hw=(64, 96), classes=2):
    h, w = input_hw
    return [np.full((1, 5 + classes, h // s, w // s), -20.0, np.float32) for s in (8, 16, 32)]


def test_strides_come_from_the_shapes():
    assert level_strides((64, 96), [(8, 12), (4, 6), (2, 3)]) == [8, 16, 32]
    with pytest.raises(ValueError, match="does not tile"):
        level_strides((64, 96), [(8, 11)])
    cells, strides = grid_points((64, 96), [(8, 12), (4, 6), (2, 3)])
    assert len(cells) == 8 * 12 + 4 * 6 + 2 * 3 and strides[0] == 8 and strides[-1] == 32
    assert cells[13].tolist() == [1, 1]  # row-major: index 13 on a 12-wide grid is (x=1, y=1)


def test_decode_hand_made_cells():
    maps = _maps()
    # stride 16 level, cell (x=2, y=1): offsets (0.5, 0.25), size exp(0)·16 = 16, face logit +20, class 1
    maps[1][0, :, 1, 2] = [0.5, 0.25, 0.0, np.log(2.0), 20.0, -20.0, 20.0]
    # stride 32 level, cell (x=0, y=0): a weak detection
    maps[2][0, :, 0, 0] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    boxes, obj, cls = decode(maps, (64, 96))
    i = 8 * 12 + 1 * 6 + 2
    cx, cy = (2 + 0.5) * 16, (1 + 0.25) * 16
    np.testing.assert_allclose(boxes[0, i], [cx - 8, cy - 16, cx + 8, cy + 16], atol=1e-4)
    assert obj[0, i] == pytest.approx(1.0) and cls[0, i, 1] == pytest.approx(1.0) and cls[0, i, 0] < 1e-6
    out = postprocess(maps, (64, 96), conf=0.5, nms_iou=0.3)[0]
    assert len(out[0]) == 2  # the weak cell has face score sigmoid(0) = 0.5, which passes conf 0.5
    out = postprocess(maps, (64, 96), conf=0.51, nms_iou=0.3)[0]
    np.testing.assert_allclose(out[0][0], [cx - 8, cy - 16, cx + 8, cy + 16], atol=1e-4)


def test_torch_decoding_used_in_training_equals_numpy_decoding():
    torch = pytest.importorskip("torch")
    from ferx.train.onepass.loss import flatten_and_decode

    rng = np.random.default_rng(0)
    maps = [rng.normal(size=m.shape).astype(np.float32) for m in _maps()]
    _, tboxes, anchors = flatten_and_decode([torch.from_numpy(m) for m in maps], (64, 96))
    boxes, _, _ = decode(maps, (64, 96))
    np.testing.assert_allclose(tboxes.numpy(), boxes, atol=1e-4)
    # cell centres sit at (cell + 0.5) · stride
    assert anchors[0].tolist() == [4.0, 4.0, 8.0]


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    keep = nms(boxes, np.array([0.6, 0.9, 0.8]), 0.3)
    assert keep.tolist() == [1, 2]


def test_letterbox_scale_maps_boxes_back():
    img = np.zeros((100, 200), np.uint8)
    img[40:60, 100:140] = 255
    canvas, scale = letterbox(img, 64)
    assert canvas.shape == (64, 64) and scale == pytest.approx(0.32)
    assert (canvas[40:, :] == 114).all()  # padding below the image
    ys, xs = np.nonzero(canvas > 200)
    assert xs.min() / scale == pytest.approx(100, abs=4) and ys.max() / scale == pytest.approx(60, abs=4)


def test_letterbox_without_upscaling_keeps_small_images_at_their_size():
    img = np.zeros((30, 50), np.uint8)
    img[10:20, 20:30] = 255
    canvas, scale = letterbox(img, 64, upscale=False)
    assert scale == 1.0 and np.array_equal(canvas[:30, :50], img) and (canvas[30:] == 114).all()
    _, big = letterbox(np.zeros((128, 96), np.uint8), 64, upscale=False)
    assert big == pytest.approx(0.5)  # larger images are still shrunk to fit


def test_boxes_are_clipped_to_the_image_before_nms():
    """A close-up face: two predictions reaching past a 64×64 frame overlap little (IoU 0.16) until
    clipped, then coincide; they must not both survive as two faces."""
    maps = _maps((64, 64))
    maps[2][0, :, 0, 0] = [1.0, 1.0, np.log(2.0), np.log(2.0), 3.0, 0.0, 0.0]  # (0, 0)–(64, 64), score 0.95
    maps[2][0, :, 1, 1] = [0.5, 0.5, np.log(5.0), np.log(5.0), 2.0, 0.0, 0.0]  # (−32, −32)–(128, 128)
    boxes, scores, _ = postprocess(maps, (64, 64), conf=0.5, nms_iou=0.3)[0]
    assert len(boxes) == 1 and scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)))
    np.testing.assert_allclose(boxes[0], [0, 0, 64, 64], atol=1e-4)
    # the image content may end before the letterbox padding: clip to it
    boxes, _, _ = postprocess(maps, (64, 64), conf=0.5, nms_iou=0.3, content_hw=(40, 64))[0]
    np.testing.assert_allclose(boxes[0], [0, 0, 64, 40], atol=1e-4)

"""Real photographs for the one-pass measures: whole photos and the group pictures made of them."""

import numpy as np
import pytest
from PIL import Image

from ferx.train.onepass.photos import GROUP_LAYOUTS, PhotoSet, group_set
from tests.train.onepass.test_data import LFW, _ncc


def _photos(n):
    """n lfw-expressions photos with a hand-set face box each (the real ones come from the pipeline)."""
    files = sorted((LFW / "images").glob("*.jpg"))[:n]
    if len(files) < n:
        pytest.skip("shared data not found")
    images = [np.asarray(Image.open(f).convert("L")) for f in files]
    boxes = [np.array([[0.25 * g.shape[1], 0.2 * g.shape[0], 0.75 * g.shape[1], 0.85 * g.shape[0]]], np.float32)
             for g in images]
    return PhotoSet(images, boxes, [np.array([i % 8]) for i in range(n)], [f.name for f in files])


def test_group_pictures_use_every_photo_once_and_box_its_face():
    photos = _photos(26)  # 2 + 3 + 4 + 6 + 9 = 24, then a group of the 2 left
    groups = group_set(photos, size=640, seed=3)
    assert [len(b) for b in groups.boxes] == [c * r for c, r in GROUP_LAYOUTS] + [2]
    assert all(g.shape == (640, 640) and g.dtype == np.uint8 for g in groups.images)
    used = [name for f in groups.files for name in f.split("+")]
    assert sorted(used) == sorted(photos.files)
    index = {name: i for i, name in enumerate(photos.files)}
    for g, boxes, labels, names in zip(groups.images, groups.boxes, groups.labels, groups.files):
        for box, label, name in zip(boxes, labels, names.split("+")):
            i = index[name]
            assert label == photos.labels[i][0]
            x1, y1, x2, y2 = photos.boxes[i][0].astype(int)
            face = photos.images[i][y1:y2, x1:x2].astype(np.float32)
            bx1, by1, bx2, by2 = np.round(box).astype(int)
            assert 0 <= bx1 < bx2 <= 640 and 0 <= by1 < by2 <= 640
            cut = np.asarray(Image.fromarray(g[by1:by2, bx1:bx2]).resize(face.shape[::-1], Image.BILINEAR), np.float32)
            assert _ncc(cut, face) > 0.9, name

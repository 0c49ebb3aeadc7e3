import numpy as np
import pytest

from ferx import Faces, load_image
from ferx.data.mosaic import compose, match
from ferx.boxes import nested_in_surer
from ferx.detect.blazeface import BlazeFaceDetector, _anchor_centres, weighted_nms
from tests.conftest import centred_face, lfw_paths


@pytest.fixture(scope="module")
def detector():
    with BlazeFaceDetector() as d:
        yield d


def test_anchor_grid_matches_the_model_layout():
    a = _anchor_centres(128, 128)
    assert a.shape == (896, 2)  # 16x16x2 at stride 8 + 8x8x6 at stride 16
    np.testing.assert_allclose(a[0], [4, 4])
    np.testing.assert_allclose(a[512], [8, 8])
    assert _anchor_centres(256, 384).shape == (32 * 48 * 2 + 16 * 24 * 6, 2)


def test_weighted_nms_blends_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    pts = np.zeros((3, 6, 2), np.float32)
    b, s, _ = weighted_nms(boxes, scores, pts, 0.3)
    assert len(b) == 2
    np.testing.assert_allclose(b[0], [0.25, 0.25, 10.25, 10.25], atol=1e-5)  # (0.9*0 + 0.3*1) / 1.2
    np.testing.assert_allclose(s, [0.9, 0.8])


def test_nested_boxes_are_dropped_only_under_a_surer_container():
    boxes = np.array([[0, 0, 100, 100], [20, 20, 50, 50]], np.float32)
    assert nested_in_surer(boxes, np.array([0.9, 0.6])).tolist() == [False, True]
    assert nested_in_surer(boxes, np.array([0.6, 0.9])).tolist() == [False, False]


def test_pyramid_reaches_min_face(detector):
    scales = detector.scales(1920, 1080)
    assert scales[0] == pytest.approx(128 / 1920)
    assert scales[-1] == 1.0  # 26/24 is within the snap distance of 1: the image is used as it is
    with BlazeFaceDetector(min_face=40) as coarse:
        assert coarse.scales(1920, 1080)[-1] == pytest.approx(26 / 40)
    assert all(b / a <= 3.0 + 1e-6 for a, b in zip(scales, scales[1:]))
    assert detector.scales(100, 100) == [pytest.approx(1.28)]


def test_finds_the_face_in_real_photos(detector):
    paths = lfw_paths("neutral", 10) + lfw_paths("happiness", 10)
    found = 0
    for p in paths:
        img = load_image(p)
        found += centred_face(img, detector.process(img, Faces.empty()).boxes) is not None
    assert found >= 19  # the photos are face-centred and face-filling


def test_group_image_recall_and_box_iou(detector, face_refs, rng):
    """Faces of 24–160 px pasted into 1920x1080 at known positions."""
    total = hits = extra = 0
    ious = []
    for _ in range(3):
        k = 10
        sel = rng.choice(len(face_refs), k, replace=False)
        sizes = list(rng.integers(24, 160, size=k))
        m = compose([face_refs[j][0] for j in sel], [face_refs[j][1] for j in sel], sizes, (1920, 1080), rng)
        faces = detector.process(m.image, Faces.empty())
        assigned, iou = match(m.boxes, faces.boxes)
        total += k
        hits += int((assigned >= 0).sum())
        extra += len(faces) - int((assigned >= 0).sum())
        ious.extend(iou[assigned >= 0])
    assert hits / total >= 0.9
    assert np.mean(ious) >= 0.7
    assert extra <= 6  # raw detector; the landmarker removes these (tested in test_pipeline)


def test_blank_image_has_no_faces(detector):
    assert len(detector.process(np.full((480, 640, 3), 127, np.uint8), Faces.empty())) == 0


def test_min_face_is_validated():
    with pytest.raises(ValueError, match="min_face"):
        BlazeFaceDetector(min_face=2)


def test_tile_grid_covers_the_level_with_overlap_larger_than_a_face():
    from ferx.detect.blazeface import tile_grid

    assert tile_grid(480, 640, 2_500_000) == [(0, 0, 480, 640)]  # small levels run whole
    assert tile_grid(40, 100, 2_500_000) == [(0, 0, 128, 128)]  # padded to the model's 128 px
    for h, w in ((2449, 3266), (16, 60000), (60000, 16), (1500, 9000)):
        tiles = tile_grid(h, w, 1_000_000)
        assert all(th * tw <= 1_000_000 and th % 16 == 0 and tw % 16 == 0 for _, _, th, tw in tiles)
        covered = np.zeros((max(h, 128), max(w, 128)), bool)
        for y0, x0, th, tw in tiles:
            covered[y0 : y0 + th, x0 : x0 + tw] = True
        assert covered[:h, :w].all()
        xs = sorted({x0 for _, x0, _, _ in tiles})
        tws = {x0: tw for _, x0, _, tw in tiles}
        assert all(xs[i] + tws[xs[i]] - xs[i + 1] >= 127 for i in range(len(xs) - 1))  # overlap ≥ a face


def test_tiled_levels_find_the_same_faces_as_whole_levels(face_refs):
    """Faces scattered over a 12 Mpx photo, some on tile seams: tiles of 1 Mpx find each face once,
    where a whole-level run finds it (the tiling only bounds memory)."""
    rng = np.random.default_rng(3)
    canvas = np.full((3000, 4000, 3), 110, np.uint8)
    from PIL import Image

    for k, (img, box) in enumerate(face_refs[:16]):
        x1, y1, x2, y2 = (int(v) for v in box)
        side = max(x2 - x1, y2 - y1)
        crop = Image.fromarray(img).crop((x1 - side // 4, y1 - side // 4, x1 + side * 5 // 4, y1 + side * 5 // 4))
        crop = np.asarray(crop.resize((150, 150)))
        y, x = 150 + 700 * (k // 4) + int(rng.integers(0, 300)), 150 + 950 * (k % 4) + int(rng.integers(0, 500))
        canvas[y : y + 150, x : x + 150] = crop
    with BlazeFaceDetector(max_tile_pixels=1_000_000) as tiled, BlazeFaceDetector(max_tile_pixels=100_000_000) as whole:
        a = tiled.process(canvas, Faces.empty())
        b = whole.process(canvas, Faces.empty())
    from ferx.boxes import box_iou

    assert len(a) == len(b) >= 14
    iou = box_iou(a.boxes, b.boxes)
    assert (iou.max(axis=1) > 0.85).all()


def test_photos_of_many_sizes_share_a_few_canonical_input_shapes(detector):
    """Every level or tile is padded to canonical sides, so 500 photos of 300–4000 px (aspect 0.6–1.6)
    need 173 input shapes in all, 40 of them above 0.3 Mpx (an interpreter each, built once; 158 and
    37 before the finest level's cap fell for photos above 4 Mpx), and 100 photos of about 1250×875
    (±12 %) need 29, 6 of them large; levels padded to multiples of 16 px, as before, needed one large
    shape per photo size."""
    from ferx.detect.blazeface import canonical_side, tile_grid

    assert [canonical_side(n) for n in (16, 128, 129, 360, 480, 500, 513, 875, 1025, 4032)] == \
        [128, 128, 144, 368, 480, 512, 640, 896, 1280, 4096]
    rng = np.random.default_rng(0)

    def shapes(sizes):
        out = set()
        for w, h in sizes:
            for s in detector.scales(w, h):
                out |= {t[2:] for t in tile_grid(max(1, round(h * s)), max(1, round(w * s)), detector.max_tile_pixels)}
        return out

    mixed = []
    for _ in range(500):
        side, aspect = int(rng.integers(300, 4000)), rng.uniform(0.6, 1.6)
        mixed.append((side, int(side / aspect)) if aspect > 1 else (int(side * aspect), side))
    many = shapes(mixed)
    assert all(canonical_side(h) == h and canonical_side(w) == w and h * w <= detector.max_tile_pixels for h, w in many)
    assert len(many) <= 175 and len([1 for h, w in many if h * w > 300_000]) <= 40
    near = shapes([(int(1250 * rng.uniform(0.88, 1.12)), int(875 * rng.uniform(0.88, 1.12))) for _ in range(100)])
    assert len(near) <= 30 and len([1 for h, w in near if h * w > 300_000]) <= 6


def test_a_capped_photo_is_found_as_its_small_copy_is(detector, face_refs):
    """A 4032×3024 photo and its 640×480 copy: the finest level is capped at 2.2 Mpx, so the large
    photo is scanned for faces of ≥ ~61 px — what 10 px is in the copy — and gives the same faces."""
    from PIL import Image

    rng = np.random.default_rng(5)
    sel = rng.choice(len(face_refs), 5, replace=False)
    m = compose([face_refs[j][0] for j in sel], [face_refs[j][1] for j in sel], [40, 55, 70, 90, 120], (640, 480), rng)
    big = np.asarray(Image.fromarray(m.image).resize((4032, 3024), Image.BICUBIC))
    assert detector.is_capped(4032, 3024) and not detector.is_capped(1920, 1080)
    small, large = detector.process(m.image, Faces.empty()), detector.process(big, Faces.empty())
    a, _ = match(m.boxes, small.boxes)
    b, _ = match(m.boxes * 6.3, large.boxes)
    assert (a >= 0).all() and (b >= 0).all()


def test_the_finest_level_of_a_very_large_photo_seeks_a_fixed_share_of_its_side(detector):
    """Up to 4 Mpx the finest level is capped at 2.2 Mpx; beyond, the cap falls to 1.2 Mpx (from
    7.3 Mpx up), where the smallest face sought is ~2 % of the photo's longer side — still below
    what the photo's 640-px copy can find (24 px of 640)."""
    assert detector.level_cap(1920, 1080) == detector.level_cap(2309, 1732) == 2_200_000  # ≤ 4 Mpx
    assert 1_200_000 < detector.level_cap(2592, 1944) < 2_200_000
    for w, h in ((4032, 3024), (8000, 6000)):
        assert detector.level_cap(w, h) == 1_200_000
        smallest = 26 / detector.scales(w, h)[-1]
        assert 0.019 < smallest / w < 0.022 and smallest < 24 / 640 * w
    with BlazeFaceDetector(large_photo_pixels=0) as fixed:
        assert fixed.level_cap(4032, 3024) == 2_200_000

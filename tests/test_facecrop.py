import numpy as np
from PIL import Image

from ferx.facecrop import TEMPLATE, aligned_crop, crop_transform
from tests.conftest import lfw_paths


def _apply(t, pts):
    scale, angle, tx, ty = t
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.stack([c * pts[:, 0] - s * pts[:, 1] + tx, s * pts[:, 0] + c * pts[:, 1] + ty], 1)


def test_eye_corners_land_on_the_template_for_any_rotation_and_scale():
    lm = np.zeros((478, 3), np.float32)
    for angle in (-30, 0, 15):
        for dist in (20, 100, 400):
            a = np.radians(angle)
            lm[33, :2] = [300, 200]
            lm[263, :2] = [300 + dist * np.cos(a), 200 + dist * np.sin(a)]
            np.testing.assert_allclose(_apply(crop_transform(lm), lm[[33, 263], :2]), TEMPLATE, atol=1e-3)


def test_real_face_crop_matches_the_template(analyzer):
    path = lfw_paths("neutral", 1, offset=2)[0]
    faces = analyzer.analyze(path).faces
    grey = Image.open(path).convert("L")
    crop = aligned_crop(grey, faces.landmarks[0])
    assert crop.shape == (48, 48) and crop.dtype == np.uint8 and crop.std() > 10
    # mesh the crop itself: its eye corners must sit near the template
    again = analyzer.analyze(np.asarray(Image.fromarray(crop).resize((192, 192)))).faces
    assert len(again) == 1  # found on this photo (checked on 10 neutral photos: 10 of 10)
    corners = again.landmarks[0, [33, 263], :2] / 4
    assert np.abs(corners - TEMPLATE).max() < 3.0


def _full_frame_warp(grey, landmarks):
    """Reference: one bilinear warp of the whole frame, no region, no shrink."""
    scale, angle, tx, ty = crop_transform(landmarks)
    c, s = np.cos(-angle) / scale, np.sin(-angle) / scale
    coeffs = (c, -s, -(c * tx - s * ty), s, c, -(s * tx + c * ty))
    return np.asarray(grey.transform((48, 48), Image.AFFINE, coeffs, Image.BILINEAR), np.uint8)


def test_region_crop_equals_a_full_frame_warp_when_no_shrink_is_needed(analyzer):
    path = lfw_paths("happiness", 1, offset=1)[0]
    small = Image.open(path).convert("RGB").reduce(5)  # outer eye corners ~ 40 px apart → scale > 0.5
    faces = analyzer.analyze(np.asarray(small)).faces
    assert len(faces) == 1
    lm = faces.landmarks[0]
    assert crop_transform(lm)[0] >= 0.5
    grey = small.convert("L")
    diff = np.abs(aligned_crop(grey, lm).astype(int) - _full_frame_warp(grey, lm).astype(int))
    assert diff.max() <= 1


def test_crop_does_not_depend_on_where_the_face_sits_in_a_large_frame(analyzer):
    path = lfw_paths("neutral", 1, offset=3)[0]
    photo = Image.open(path).convert("L")
    lm = analyzer.analyze(path).faces.landmarks[0]
    canvas = Image.new("L", (1920, 1080), 0)
    canvas.paste(photo, (700, 300))
    moved = lm.copy()
    moved[:, :2] += (700, 300)
    a = aligned_crop(photo, lm).astype(int)[8:40, 8:40]
    b = aligned_crop(canvas, moved).astype(int)[8:40, 8:40]
    assert a.std() > 10
    assert np.abs(a - b).mean() < 2.0


def test_each_face_is_cropped_once_per_frame_and_shared(analyzer, monkeypatch):
    """Inside a frame_crops block (every analysis, every tracker step) a face's aligned crop is made
    once, whoever asks for it (the classifier, the tracker's appearance cue), and equals the crop
    made directly; outside one, crops are still made, just not shared."""
    import threading

    import ferx.facecrop as facecrop
    from ferx import load_image
    from ferx.facecrop import aligned_crops, frame_crops

    photo = load_image(lfw_paths("happiness", 1)[0])
    landmarks = analyzer.analyze(photo).faces.landmarks
    made: list[int] = []
    real = facecrop.aligned_crop

    def counting(grey, lm, size=48):
        made.append(size)
        return real(grey, lm, size)

    monkeypatch.setattr(facecrop, "aligned_crop", counting)
    direct = real(Image.fromarray(photo).convert("L"), landmarks[0])
    with frame_crops(photo):
        first = aligned_crops(photo, landmarks)
        again = aligned_crops(photo, landmarks)
        other = aligned_crops(photo.copy(), landmarks)  # another image: not this frame's crops
    assert made == [48, 48] and np.array_equal(first[0], direct) and np.array_equal(again, first)
    assert np.array_equal(other, first)
    made.clear()
    seen: list[int] = []

    def in_thread():  # a thread has its own frames: the block above is not shared with it
        aligned_crops(photo, landmarks)
        seen.append(len(made))

    with frame_crops(photo):
        aligned_crops(photo, landmarks)
        t = threading.Thread(target=in_thread)
        t.start()
        t.join()
    assert seen == [2]


def test_the_tracker_and_the_classifier_share_the_crop(analyzer, monkeypatch):
    import ferx.facecrop as facecrop
    from ferx.video import Sampling, VideoConfig, analyze_video
    from tests.video.conftest import TALKING

    made: list[int] = []
    real = facecrop.aligned_crop
    monkeypatch.setattr(facecrop, "aligned_crop", lambda grey, lm, size=48: made.append(size) or real(grey, lm, size))
    frames = list(analyze_video(analyzer, TALKING, VideoConfig(sampling=Sampling(end=1.0))))
    faces = sum(len(tf.faces) for tf in frames)
    assert faces >= 20 and len(made) == faces  # the classifier's crop, reused by the appearance cue

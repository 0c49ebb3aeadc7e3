"""Tracking: stable IDs through crossings, occlusions, exits and cuts; mesh following vs detection."""

from __future__ import annotations

import numpy as np
import pytest

from ferx.video import Sampling, TrackingConfig
from tests.video.conftest import TALKING, clip, id_runs, run_tracks


def test_talking_clip_one_person_followed_with_few_detections(analyzer):
    frames = run_tracks(analyzer, clip(TALKING.name))
    assert len(frames) == 472
    assert all(1 in tf.track_ids.tolist() for tf in frames)  # the speaker is track 1 on every frame
    detector_frames = sum(tf.detector_ran for tf in frames)
    assert detector_frames < 472 / 6  # following carries most frames
    assert not any(tf.scene_cut for tf in frames)


@pytest.mark.slow  # measured 15–45 s on the loaded 2-core machine: CI runs it (make test-slow)
def test_following_matches_detection_on_every_frame(analyzer):
    """Landmarks followed from the previous mesh agree with landmarks cropped from each frame's
    detection (the still-image path) to a few % of the eye-corner distance."""
    first = Sampling(end=8.0)  # 192 frames: the detector-every-frame run is the slow one
    followed = run_tracks(analyzer, TALKING, smoothing=_no_smooth(), sampling=first)
    detected = run_tracks(analyzer, TALKING, smoothing=_no_smooth(), tracking=TrackingConfig(follow=False),
                          sampling=first)
    assert sum(tf.detector_ran for tf in detected) == len(detected) == 192
    a = np.array([tf.faces.landmarks[list(tf.track_ids).index(1)] for tf in followed])
    b = np.array([tf.faces.landmarks[list(tf.track_ids).index(1)] for tf in detected])
    iod = np.linalg.norm(b[:, 33, :2] - b[:, 263, :2], axis=1).mean()
    assert np.linalg.norm(a[..., :2] - b[..., :2], axis=2).mean() / iod < 0.05


def _no_smooth():
    from ferx.video import SmoothingConfig

    return SmoothingConfig(enabled=False)


def test_face_leaving_ends_its_track(analyzer):
    frames = run_tracks(analyzer, clip("face_noface.mov"))
    assert id_runs(frames) == [(1,), ()]
    assert len(frames) == 169
    last_face = max(i for i, tf in enumerate(frames) if len(tf.faces))
    assert 40 < last_face < 160


def test_face_appearing_starts_a_track(analyzer):
    frames = run_tracks(analyzer, clip("noface_face.mov"))
    runs = id_runs(frames)
    assert runs[0] == () and (1,) in runs and all(r in ((), (1,)) for r in runs)
    first_face = min(i for i, tf in enumerate(frames) if len(tf.faces))
    assert 40 < first_face < 160


def test_no_face_clip(analyzer):
    frames = run_tracks(analyzer, clip("no_face.mp4"))
    assert len(frames) == 95 and not any(len(tf.faces) for tf in frames)


def test_crossing_faces_keep_their_ids(analyzer, scenes):
    frames = run_tracks(analyzer, scenes["cross"])
    ids = {i for tf in frames for i in tf.track_ids.tolist()}
    assert ids == {1, 2}
    # Each ID keeps moving the same way: the one that started on the left ends on the right.
    first, last = frames[0], frames[-1]
    start = {i: first.faces.boxes[k, 0] for k, i in enumerate(first.track_ids.tolist())}
    end = {i: last.faces.boxes[k, 0] for k, i in enumerate(last.track_ids.tolist())}
    left = min(start, key=start.get)
    assert end[left] > start[left] + 200 and end[3 - left] < start[3 - left] - 200


def test_brief_occlusion_keeps_the_id(analyzer, scenes):
    frames = run_tracks(analyzer, scenes["occlusion"])
    assert {i for tf in frames for i in tf.track_ids.tolist()} == {1}
    hidden = [tf for tf in frames if 1.0 <= tf.timestamp < 1.27]
    assert hidden and all(len(tf.faces) == 0 for tf in hidden[1:])


def test_face_leaving_and_returning_keeps_the_id(analyzer, scenes):
    frames = run_tracks(analyzer, scenes["leave"])
    assert id_runs(frames) == [(1,), (), (1,)]


def test_cut_between_two_people_changes_the_id(analyzer, scenes):
    frames = run_tracks(analyzer, scenes["cut"])
    cuts = [tf.timestamp for tf in frames if tf.scene_cut]
    assert len(cuts) == 1 and abs(cuts[0] - 2.0) < 0.1
    before = {i for tf in frames if tf.timestamp < 2 for i in tf.track_ids.tolist()}
    after = {i for tf in frames if tf.timestamp >= 2 for i in tf.track_ids.tolist()}
    assert before == {1} and after == {2}


def test_cut_to_the_same_person_keeps_the_id(analyzer, scenes):
    frames = run_tracks(analyzer, scenes["cut_same"])
    assert any(tf.scene_cut for tf in frames)
    assert {i for tf in frames for i in tf.track_ids.tolist()} == {1}


def test_four_faces_at_once(analyzer, scenes):
    frames = run_tracks(analyzer, scenes["four"])
    assert all(sorted(tf.track_ids.tolist()) == [1, 2, 3, 4] for tf in frames)
    assert sum(tf.detector_ran for tf in frames) <= 4


@pytest.mark.slow  # measured 15–45 s on the loaded 2-core machine: CI runs it (make test-slow)
def test_detector_every_frame_mode_gives_the_same_people(analyzer, scenes):
    frames = run_tracks(analyzer, scenes["cross"], tracking=TrackingConfig(follow=False))
    assert all(tf.detector_ran for tf in frames)
    assert {i for tf in frames for i in tf.track_ids.tolist()} == {1, 2}


@pytest.fixture(scope="module")
def flashing(tmp_path_factory, people):
    """One person throughout and four others shown for 0.4–0.6 s each at other places (an audience
    cut into a talk): faces are lost all the time."""
    from ferx.video.compose import Actor, still, write_video

    d = tmp_path_factory.mktemp("flashing")
    others = [people[k] for k in ("p1", "p2", "p3", "p0_other_photo")]
    cast = [Actor(people["p0"], still((160, 180), 200))]
    cast += [Actor(p, still((460 + 60 * (i % 2), 120 + 120 * (i // 2)), 110, visible=(0.3 + 0.8 * i, 0.8 + 0.8 * i)))
             for i, p in enumerate(others)]
    return write_video(d / "flashing.mp4", cast, seconds=4)


def test_lost_faces_are_looked_for_where_they_were_not_on_the_whole_frame(analyzer, flashing):
    """Before: the whole-frame detector ran on every frame for 0.5 s after each loss. Now it runs
    around the lost face's place (a few ms) and the faces found per frame stay the photo pipeline's."""
    from ferx.video import VideoReader
    from ferx.video.track import FaceTracker

    tracker = FaceTracker(analyzer)
    video, photo = [], []
    with VideoReader(flashing, prefetch=0) as reader:
        for frame in reader:
            video.append(len(tracker.step(frame).track_ids))
            photo.append(len(analyzer.analyze(frame).faces))
    frames = len(video)
    assert frames == 60 and sum(photo) >= 60 + 4 * 6  # the speaker, and each other face on ≥ 6 frames
    assert np.mean(np.array(video) == np.array(photo)) >= 0.9
    assert tracker.detections <= frames / 4 and tracker.schedule.searches >= 10


def test_the_schedule_searches_recently_lost_faces_every_frame_and_older_ones_now_and_then():
    import math

    from ferx.video.schedule import DetectionSchedule

    s = DetectionSchedule(TrackingConfig(), follow=True)
    s.finished(True)  # a whole-frame detection: searches restart from it
    assert s.search_lost([]) is None
    assert s.search_lost([0.1, 1.5]) == 0.5  # the recent one only
    assert s.search_lost([1.5]) is None
    s.finished(False), s.finished(False)
    assert s.search_lost([1.5]) == math.inf  # every detect_every // 4 = 3 frames, all re-identifiable ones
    s.finished(False, searched=True)
    assert s.search_lost([1.5]) is None and s.searches == 1 and s.detections == 1


def test_readings_on_a_second_thread_give_the_same_frames(analyzer, flashing):
    """`VideoConfig.overlap`: a frame's AUs and expression read on a second thread while the next frame
    is followed give the same frames as reading them in turn — same tracks, boxes, AUs, probabilities,
    notes — on a clip where faces come and go (the readings follow whatever faces the frame ended with)."""
    from ferx.video import analyze_video

    def frames(overlap: bool) -> list:
        return list(analyze_video(analyzer, flashing, overlap=overlap))

    together, apart = frames(False), frames(True)
    assert len(together) == len(apart) > 0 and sum(len(tf.result.faces) for tf in apart) > len(apart)
    for a, b in zip(together, apart):
        assert a.track_ids.tolist() == b.track_ids.tolist() and a.result.notes == b.result.notes
        fa, fb = a.result.faces, b.result.faces
        np.testing.assert_array_equal(fa.boxes, fb.boxes)
        np.testing.assert_array_equal(fa.aus, fb.aus)
        np.testing.assert_array_equal(fa.expression, fb.expression)
        assert {"aus", "expression"} <= set(b.result.timings_ms) or not len(fb)


def test_every_face_of_a_followed_frame_has_its_readings(analyzer, scenes):
    """Four faces at once, read on the second thread: every face has AUs and expression probabilities."""
    from ferx.video import analyze_video

    for tf in analyze_video(analyzer, scenes["four"], overlap=True):
        faces = tf.result.faces
        assert len(faces) == 4 and np.isfinite(faces.aus).all() and np.allclose(faces.expression.sum(1), 1, atol=1e-3)

"""Video fixtures: the real clips in ../shared/data/videos, and scenes composed from real lfw
photos with PyAV (built once per session in a temporary folder, a few seconds each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import LFW, SHARED, lfw_rows

VIDEOS = SHARED / "videos"
TALKING = VIDEOS / "WolfgangLanger_Pexels.mp4"


def clip(name: str) -> Path:
    path = VIDEOS / name
    if not path.exists():
        pytest.skip(f"{path} not found (set FERX_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def people() -> dict[str, np.ndarray]:
    """Photos of different people (two photos of the first), by identity order in labels.csv."""
    from ferx import load_image

    by_id: dict[str, list[str]] = {}
    for row in lfw_rows():
        by_id.setdefault(row["identity"], []).append(row["image"])
    names = [k for k, v in by_id.items() if len(v) >= 2][:5]
    out = {f"p{i}": load_image(LFW / "images" / by_id[n][0]) for i, n in enumerate(names)}
    out["p0_other_photo"] = load_image(LFW / "images" / by_id[names[0]][1])
    return out


@pytest.fixture(scope="session")
def scenes(tmp_path_factory: pytest.TempPathFactory, people: dict[str, np.ndarray]) -> dict[str, Path]:
    """Composed test videos, 640×360 at 15 fps."""
    from ferx.video.compose import Actor, linear, still, write_video

    d = tmp_path_factory.mktemp("scenes")
    a, b, c, e = people["p0"], people["p1"], people["p2"], people["p3"]
    grey = np.full((60, 60, 3), 128, np.uint8)
    s: dict[str, Path] = {}
    # Two people crossing: b passes in front of a (z=1); 440 Hz tone for the audio round trip.
    s["cross"] = write_video(d / "cross.mp4", [Actor(a, linear((120, 180), (520, 180), 170, 0, 4)),
                                               Actor(b, linear((520, 190), (120, 190), 170, 0, 4), z=1)],
                             seconds=4, audio_hz=440.0)
    # A hard cut (new background) from one person to another at the same place, at t = 2 s.
    s["cut"] = write_video(d / "cut.mp4", lambda t: [Actor(a if t < 2 else b, still((320, 180), 200))],
                           seconds=4, scene=lambda t: int(t >= 2))
    # A hard cut to the same person elsewhere in the frame.
    s["cut_same"] = write_video(d / "cut_same.mp4", lambda t: [Actor(a, still((320, 180), 200) if t < 2 else
                                                                     still((250, 200), 180))],
                                seconds=4, scene=lambda t: int(t >= 2))
    # A face walking out to the right (gone 1.3–2.5 s), coming back elsewhere.
    s["leave"] = write_video(d / "leave.mp4", [Actor(a, lambda t: (320 + 300 * t, 180, 180) if t < 1.5 else
                                                     (None if t < 2.5 else (200, 180, 180)))], seconds=4)
    # A brief occlusion: a grey card in front of the face for 0.27 s.
    s["occlusion"] = write_video(d / "occlusion.mp4", [Actor(a, still((320, 180), 190)),
                                                       Actor(grey, still((320, 180), 230, visible=(1.0, 1.27)), z=1)],
                                 seconds=3)
    # Four people at once, standing still.
    s["four"] = write_video(d / "four.mp4", [Actor(p, still((80 + 160 * i, 180), 140))
                                             for i, p in enumerate((a, b, c, e))], seconds=2)
    # A phone video: stored sideways, with a display matrix that says "rotate".
    s["rotated"] = write_video(d / "rotated.mp4", [Actor(a, still((320, 180), 200))], seconds=1, rotation=-90)
    return s


@pytest.fixture(scope="session")
def audio_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import av

    path = tmp_path_factory.mktemp("audio") / "tone.m4a"
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=44100, layout="mono")
        k = np.arange(44100)
        tone = (0.3 * np.sin(2 * np.pi * 440 * k / 44100)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, 0
        for p in list(a.encode(frame)) + list(a.encode()):
            out.mux(p)
    return path


def run_tracks(analyzer, source, **config) -> list:
    """TrackedFrames of a whole video, images dropped (memory)."""
    from ferx.video import VideoConfig, analyze_video

    return [tf.with_faces(tf.faces, frame=None) for tf in analyze_video(analyzer, source, VideoConfig(**config))]


def id_runs(frames: list) -> list[tuple[int, ...]]:
    """The sequence of distinct ID sets, consecutive repeats collapsed."""
    out: list[tuple[int, ...]] = []
    for tf in frames:
        ids = tuple(sorted(tf.track_ids.tolist()))
        if not out or out[-1] != ids:
            out.append(ids)
    return out

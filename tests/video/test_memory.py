"""Memory stays flat on a long video: nothing is kept per frame (rows are streamed, the summary
is accumulated, the decoder holds a few frames)."""

from __future__ import annotations

import numpy as np
import pytest

from ferx.runs.video import VideoOutputs
from ferx.runs.video import run_video as process_video


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.slow
def test_memory_is_flat_on_a_long_video(analyzer, people, tmp_path):
    import math

    from ferx.video.compose import Actor, write_video

    # 3 minutes at 8 fps: a face that drifts around (followed) and leaves now and then (detections).
    def path(t):
        if t % 40 > 35:
            return None
        return (320 + 150 * math.sin(t / 3), 180 + 40 * math.cos(t / 5), 170)

    video = write_video(tmp_path / "long.mp4", [Actor(people["p0"], path)], seconds=180, fps=8, crf=30)
    samples: list[tuple[int, float]] = []

    def watch(tf):
        if tf.index % 100 == 0:
            samples.append((tf.index, _rss_mb()))

    run = process_video(analyzer, video, tmp_path / "out", outputs=VideoOutputs(formats=("csv", "parquet")),
                        on_frame=watch)
    assert run.status == "complete" and run.frames == 1440
    after_warmup = np.array([m for i, m in samples if i >= 300])
    # A steady leak shows in every interval; one-off steps (pyarrow's memory pool on the first row
    # group, a detector level's first use) do not. Measured: median +0.2 MB per 100 frames, one
    # +46 MB step at the first Parquet row group, then flat. One leaked 640×360 frame per frame
    # would be +66 MB per 100 frames.
    assert np.median(np.diff(after_warmup)) < 1.0
    assert after_warmup.max() < samples[0][1] + 150  # the ceiling

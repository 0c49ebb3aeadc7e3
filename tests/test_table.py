"""ferx's one face table: the same columns for a frame with and without faces, and for the same
input whichever command wrote it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ferx.cli import main
from ferx.table import LEAD, FrameInfo, TableLayout
from tests.conftest import SHARED, lfw_paths

CLIP = SHARED / "videos" / "WolfgangLanger_Pexels.mp4"


def test_a_frame_without_faces_has_the_columns_of_a_frame_with_faces(analyzer, happy_photo):
    face = analyzer.analyze(happy_photo)
    wall = analyzer.analyze(np.full((200, 300, 3), 90, np.uint8))
    assert len(face.faces) == 1 and len(wall.faces) == 0
    assert list(wall.faces.to_pandas().columns) == list(face.faces.to_pandas().columns)
    assert list(wall.to_pandas().columns) == list(face.to_pandas().columns)
    layout = TableLayout.of_pipeline(analyzer.describe())
    assert TableLayout.of_faces(wall.faces) == layout == TableLayout.of_faces(face.faces)
    (row,) = layout.rows(wall)
    assert len(row) == len(layout.columns) and row[layout.names.index("n_faces")] == 0
    assert row[layout.names.index("face")] is None and row[layout.names.index("notes")] == "no face found"
    assert [c.name for c in layout.columns[: len(LEAD)]] == [c.name for c in LEAD]
    assert {"label", "p_happiness", "AU12", "AU12" + "_rel"} & set(layout.names) == {"label", "p_happiness", "AU12"}


def test_rows_hold_the_faces_values(analyzer, happy_photo):
    r = analyzer.analyze(happy_photo)
    layout = TableLayout.of_pipeline(analyzer.describe(), relative=True, landmarks=True)
    rel = np.full_like(r.faces.aus, 0.5)
    (row,) = layout.rows(r, FrameInfo(kind="video", track_ids=np.array([7]), detected=np.array([True]),
                                      scene_cut=False, aus_relative=rel))
    value = dict(zip(layout.names, row))
    assert value["track"] == 7 and value["detected"] is True and value["kind"] == "video"
    assert value["AU12"] == float(r.faces.aus[0, r.faces.au_codes.index("AU12")]) and value["AU12_rel"] == 0.5
    assert value["label"] == r.faces.labels[0] and value["explanation"] == r.faces.explanations[0].text
    assert len(value["landmarks"]) == 478 * 3
    table = layout.arrow_table([row])
    assert table.schema.field("AU12").type == "float" and table.column("track").to_pylist() == [7]
    line = layout.csv_line(row)
    back = pd.read_csv(pd.io.common.StringIO(",".join(layout.names) + "\n" + line))
    assert back.AU12[0] == pytest.approx(value["AU12"], abs=5e-5) and back.detected[0] == 1


def test_the_same_input_gives_the_same_columns_and_values_whichever_command_wrote_it(tmp_path):
    photos = lfw_paths("happiness", 2)
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("".join(f"{p}\n" for p in [*photos, CLIP]))
    analyze_out, batch_out = tmp_path / "analyze", tmp_path / "batch"
    assert main(["analyze", *map(str, photos), str(CLIP), "--fps", "2", "--format", "json,csv", "--no-timelines",
                 "--out", str(analyze_out), "-q"]) == 0
    assert main(["batch", str(inputs), str(batch_out), "--video-fps", "2", "--workers", "1", "-q"]) == 0
    images = pd.read_csv(analyze_out / "faces.csv")
    video = pd.read_csv(analyze_out / CLIP.stem / "rows.csv")
    dataset = pq.read_table(batch_out / "faces").to_pandas()
    assert list(images.columns) == list(video.columns) == list(dataset.columns)
    for kind, ours in (("image", images), ("video", video)):
        theirs = dataset[dataset.kind == kind].sort_values(["source", "frame", "face"]).reset_index(drop=True)
        ours = ours.sort_values(["source", "frame", "face"]).reset_index(drop=True)
        assert len(ours) == len(theirs) and (ours.source == theirs.source).all()
        for col in ("x1", "score", "AU12", "p_happiness", "yaw", "bs_jawOpen", "timestamp"):
            np.testing.assert_allclose(ours[col], theirs[col].astype(float), atol=6e-5, err_msg=f"{kind} {col}")
        assert ours.label.tolist() == theirs.label.tolist()
        assert (ours.content_sha256 == theirs.content_sha256).all()


def test_the_final_label_is_the_explanations_conclusion_where_the_rule_overrules_the_classifier(weighed_analyzer):
    """Alvaro_Uribe_0014 (lfw): the classifier's top class is sadness (0.41) and a decision rule that
    weighs the AU evidence in (`WEIGHED_RULE`) concludes fear (with the AU intensity scales of 2026-12-08
    beyond its uncertainty margin; before them, "uncertain between fear and sadness", fear first) — `label` keeps the classifier's class and `final_label` the conclusion, so a reader of the
    table sees both (a new user found the two 41 % figures on different labels with no column naming
    the conclusion)."""
    from tests.conftest import LFW

    analyzer = weighed_analyzer
    r = analyzer.analyze(LFW / "images" / "Alvaro_Uribe_0014.jpg")
    layout = TableLayout.of_pipeline(analyzer.describe())
    value = dict(zip(layout.names, layout.rows(r, FrameInfo(kind="image"))[0]))
    e = r.faces.explanations[0]
    assert value["label"] == r.faces.labels[0] == "sadness"
    assert value["final_label"] == e.label == "fear" and value["uncertain"] is False
    assert value["final_probability"] == pytest.approx(e.probability, abs=1e-6)

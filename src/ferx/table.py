"""The one face table: every table ferx writes or returns has these columns, in this order.

`Faces.to_pandas`, `FrameResult.to_pandas`, the rows of `ferx analyze` (faces.csv / faces.parquet for
photos, rows.csv / rows.parquet for a video) and the Parquet dataset of `ferx batch` are all built
here, so the same input gives the same columns whichever command ran it. The columns depend on what
the analyzer produces (`TableLayout.of_pipeline`), never on whether a face was found: a frame
without a face is one row whose face columns are empty.

    source content_sha256 kind frame timestamp width height n_faces face track detected scene_cut
    x1 y1 x2 y2 score                                        every face
    label confidence p_<label>…                              with an expression stage
    <AU>… [<AU>_rel…]                                        with an AU stage (_rel: video calibration)
    yaw pitch roll  bs_<blendshape>…                         with a landmarker
    final_label final_probability uncertain au_label au_agrees explanation explanation_json
                                                             with an explain stage
    notes [landmarks]                                        landmarks: 478 × (x, y, z) as one list

`track`, `detected` (found by the detector on this frame, else followed by its mesh) and
`scene_cut` are filled for video frames and empty for photos; `content_sha256` where the command
read the input's bytes. `label` is the expression stage's top class; `final_label` is the label the
explanation concludes, by the decision rule (`ferx.explain.cot.decide`: by default the classifier's
label; a configured `au_weight` combines the AU evidence in where the classifier is unsure), with its
probability and whether the rule found the top two too close to call ("uncertain between X and Y": within
the margin, and the AU evidence naming another label); the two labels differ only where a configured
rule overrules the classifier. Floats are float32 (`timestamp` float64); CSV files round them to 4
decimals (timestamps to 6), as the JSON results do. In pandas, `face` and `track` are nullable Int64
(`<NA>` where empty), read back from Parquet too (`pandas_metadata`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ferx.facs import BLENDSHAPES
from ferx.types import HEAD_POSE_NAMES, N_LANDMARKS

if TYPE_CHECKING:
    from ferx.stages import PipelineInfo
    from ferx.types import Faces, FrameResult

#: Column kinds: how a column is typed in Arrow / pandas and written to CSV.
KINDS = ("str", "int32", "int64", "float32", "float64", "bool", "float32_list")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str


LEAD: tuple[Column, ...] = (
    Column("source", "str"), Column("content_sha256", "str"), Column("kind", "str"), Column("frame", "int64"),
    Column("timestamp", "float64"), Column("width", "int32"), Column("height", "int32"), Column("n_faces", "int32"),
    Column("face", "int32"), Column("track", "int64"), Column("detected", "bool"), Column("scene_cut", "bool"),
)
_BOX = ("x1", "y1", "x2", "y2", "score")
#: Integer columns that are empty in some rows (`face` on a frame without a face, `track` outside a
#: video), as pandas types them: pandas reads an Arrow integer column with nulls as float64 (0.0, 1.0,
#: NaN) unless the file's pandas metadata names a nullable type. Int64 is what `to_pandas` gives.
NULLABLE_INTS = {"face": "Int64", "track": "Int64"}
_TEXT_EXPLANATION = (Column("final_label", "str"), Column("final_probability", "float32"), Column("uncertain", "bool"),
                     Column("au_label", "str"), Column("au_agrees", "bool"), Column("explanation", "str"),
                     Column("explanation_json", "str"))


@dataclass(frozen=True)
class FrameInfo:
    """What a frame's rows say besides its faces: where it came from and, in a video, the tracks.

    Attributes:
        kind: "image" or "video".
        source: the `source` column (default: the result's source; a video's rows name the video,
            not the file of each frame of an image sequence).
        content_sha256: hash of the input's bytes, when the command read them.
        track_ids, detected: per face (video frames).
        scene_cut: the frame starts a new shot (video frames).
        aus_relative: (N, K) AUs minus each person's neutral baseline (video calibration).
    """

    kind: str = "image"
    source: str | None = None
    content_sha256: str | None = None
    track_ids: np.ndarray | None = None
    detected: np.ndarray | None = None
    scene_cut: bool | None = None
    aus_relative: np.ndarray | None = None


@dataclass(frozen=True)
class TableLayout:
    """The columns of a face table (see the module docstring for their order).

    Attributes:
        au_codes: AU columns (None: no AU stage).
        labels: expression labels (None: no expression stage).
        head_pose, blendshapes, explanations: those column groups are present.
        relative: `<AU>_rel` columns (AUs relative to each person's baseline, video calibration).
        landmarks: a `landmarks` column.
    """

    au_codes: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    head_pose: bool = False
    blendshapes: bool = False
    explanations: bool = False
    relative: bool = False
    landmarks: bool = False

    @classmethod
    def of_pipeline(cls, info: PipelineInfo, *, relative: bool = False, landmarks: bool = False) -> TableLayout:
        """The columns of what an analyzer produces (`Analyzer.describe()`)."""
        provides = info.provides
        return cls(
            au_codes=info.au_codes if "aus" in provides else None,
            labels=info.expression_labels if "expression" in provides else None,
            head_pose="head_pose" in provides,
            blendshapes="blendshapes" in provides,
            explanations="explanations" in provides,
            relative=relative and "aus" in provides,
            landmarks=landmarks and "landmarks" in provides,
        )

    @classmethod
    def of_faces(cls, faces: Faces, *, relative: bool = False, landmarks: bool = False) -> TableLayout:
        """The columns of the fields `faces` holds (an analyzer's faces hold every field its stages
        fill, also when there is no face)."""
        return cls(
            au_codes=None if faces.aus is None else faces.au_codes,
            labels=None if faces.expression is None else faces.expression_labels,
            head_pose=faces.head_pose is not None,
            blendshapes=faces.blendshapes is not None,
            explanations=faces.explanations is not None,
            relative=relative and faces.aus is not None,
            landmarks=landmarks and faces.landmarks is not None,
        )

    # -- columns ---------------------------------------------------------------------------------
    @cached_property
    def face_columns(self) -> tuple[Column, ...]:
        cols = [Column(n, "float32") for n in _BOX]
        if self.labels is not None:
            cols += [Column("label", "str"), Column("confidence", "float32")]
            cols += [Column(f"p_{lab}", "float32") for lab in self.labels]
        if self.au_codes is not None:
            cols += [Column(c, "float32") for c in self.au_codes]
            if self.relative:
                cols += [Column(f"{c}_rel", "float32") for c in self.au_codes]
        if self.head_pose:
            cols += [Column(n, "float32") for n in HEAD_POSE_NAMES]
        if self.blendshapes:
            cols += [Column(f"bs_{n}", "float32") for n in BLENDSHAPES]
        if self.explanations:
            cols += list(_TEXT_EXPLANATION)
        return tuple(cols)

    @cached_property
    def columns(self) -> tuple[Column, ...]:
        tail = [Column("notes", "str")] + ([Column("landmarks", "float32_list")] if self.landmarks else [])
        return (*LEAD, *self.face_columns, *tail)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def check(self, faces: Faces, where: str) -> None:
        """Refuse faces whose AU codes or expression labels are not this table's columns."""
        if not len(faces):
            return
        if (faces.aus is not None and self.au_codes is not None and faces.au_codes != self.au_codes) or (
            faces.expression is not None and self.labels is not None and faces.expression_labels != self.labels
        ):
            raise ValueError(f"{where}: the AU codes or expression labels differ from the table's columns")

    # -- values ----------------------------------------------------------------------------------
    def face_values(self, faces: Faces, aus_relative: np.ndarray | None = None) -> dict[str, Any]:
        """The face columns of `faces`: float columns as (N,) float32 arrays (NaN = missing), text
        and boolean columns as lists (None = missing). A field the faces lack is missing."""
        n = len(faces)
        out: dict[str, Any] = {}

        def block(names: Sequence[str], values: np.ndarray | None) -> None:
            arr = np.full((n, len(names)), np.nan, np.float32) if values is None else np.asarray(values, np.float32)
            for j, name in enumerate(names):
                out[name] = arr[:, j]

        block(_BOX, np.concatenate([faces.boxes, faces.scores[:, None]], axis=1))
        if self.labels is not None:
            have = faces.expression is not None
            out["label"] = faces.labels if have else [None] * n
            out["confidence"] = faces.confidences
            block([f"p_{lab}" for lab in self.labels], faces.expression)
        if self.au_codes is not None:
            block(self.au_codes, faces.aus)
            if self.relative:
                block([f"{c}_rel" for c in self.au_codes], aus_relative)
        if self.head_pose:
            block(HEAD_POSE_NAMES, faces.head_pose)
        if self.blendshapes:
            block([f"bs_{b}" for b in BLENDSHAPES], faces.blendshapes)
        if self.explanations:
            expl = faces.explanations if faces.explanations is not None else (None,) * n
            # The AU-only label and whether the classifier agrees travel with the text, so a table of
            # faces can be filtered on disagreement without parsing prose.
            out["final_label"] = [None if e is None else e.label for e in expl]
            out["final_probability"] = np.array([np.nan if e is None or e.probability is None else e.probability
                                                 for e in expl], np.float32)
            out["uncertain"] = [None if e is None else "uncertain" in e.caveats for e in expl]
            out["au_label"] = [None if e is None else e.au_label for e in expl]
            out["au_agrees"] = [None if e is None else e.agreement for e in expl]
            out["explanation"] = [None if e is None else e.text for e in expl]
            out["explanation_json"] = [None if e is None else json.dumps(e.to_dict(), ensure_ascii=False)
                                       for e in expl]
        if self.landmarks:
            out["landmarks"] = [None if faces.landmarks is None or np.isnan(lm).any() else lm.reshape(-1)
                                for lm in (faces.landmarks if faces.landmarks is not None else [None] * n)]
        return out

    def rows(self, result: FrameResult, info: FrameInfo | None = None) -> list[list[Any]]:
        """The frame's rows as lists of Python values in column order (None = missing): one per face,
        or one with empty face columns when there is none."""
        info = info or FrameInfo()
        n = len(result.faces)
        lead = {"source": result.source if info.source is None else info.source, "content_sha256": info.content_sha256, "kind": info.kind,
                "frame": int(result.index), "timestamp": None if result.timestamp is None else float(result.timestamp),
                "width": int(result.width), "height": int(result.height), "n_faces": n,
                "scene_cut": None if info.scene_cut is None else bool(info.scene_cut),
                "notes": "; ".join(result.notes) or None}
        if n == 0:
            return [[lead.get(c.name) for c in self.columns]]
        values = self.face_values(result.faces, info.aus_relative)
        values["face"] = list(range(n))
        values["track"] = [None] * n if info.track_ids is None else np.asarray(info.track_ids).tolist()
        values["detected"] = [None] * n if info.detected is None else np.asarray(info.detected).tolist()
        columns = []
        for c in self.columns:
            v = values.get(c.name)
            if v is None:
                columns.append([lead.get(c.name)] * n)
            elif c.kind == "float32":  # one conversion per column; NaN (not measured) becomes None
                columns.append([x if math.isfinite(x) else None for x in v.tolist()])
            elif c.kind == "float32_list":
                columns.append([None if x is None else x.tolist() for x in v])
            else:
                columns.append(list(v))
        return [list(r) for r in zip(*columns)]

    @classmethod
    def of_columns(cls, names: Sequence[str]) -> TableLayout:
        """The layout of a table read back from a file, from its column names."""
        names = list(names)
        blend = {f"bs_{b}" for b in BLENDSHAPES}
        probs = [n[2:] for n in names if n.startswith("p_")]
        aus = tuple(n for n in names if n.startswith("AU") and not n.endswith("_rel"))
        return cls(au_codes=aus or None, labels=tuple(probs) or None, head_pose="yaw" in names,
                   blendshapes=blend <= set(names), explanations="explanation_json" in names,
                   relative=any(n.endswith("_rel") for n in names), landmarks="landmarks" in names)

    def results(self, frame: Any, au_profile: Any = None) -> list[FrameResult]:
        """FrameResults rebuilt from a pandas DataFrame of this layout's rows (a frame's rows are
        those with the same source and frame): what a reader of a rows file or dataset needs to show
        it (keypoints and maps are not in the table, so they are empty; landmarks come back where the
        table has a `landmarks` column — `ferx batch --landmarks` — so a report can draw face crops)."""
        from ferx.types import Explanation, Faces, FrameResult

        out = []
        for (source, index), rows in frame.groupby(["source", "frame"], sort=False, dropna=False):
            first = rows.iloc[0]
            faces_rows = rows[rows["face"].notna()]
            n = len(faces_rows)

            def block(names: Sequence[str], rows: Any = faces_rows) -> np.ndarray:
                return rows[list(names)].to_numpy(np.float32, na_value=np.nan)

            fields: dict[str, Any] = {}
            if self.au_codes is not None:
                fields.update(aus=block(self.au_codes), au_codes=self.au_codes, au_profile=au_profile)
            if self.labels is not None:
                fields.update(expression=block([f"p_{lab}" for lab in self.labels]), expression_labels=self.labels)
            if self.head_pose:
                fields["head_pose"] = block(HEAD_POSE_NAMES)
            if self.blendshapes:
                fields["blendshapes"] = block([f"bs_{b}" for b in BLENDSHAPES])
            if self.explanations:
                fields["explanations"] = tuple(None if not isinstance(x, str) else Explanation.from_dict(json.loads(x))
                                               for x in faces_rows["explanation_json"])
            if self.landmarks and "landmarks" in faces_rows:
                fields["landmarks"] = np.array([_mesh_of(v) for v in faces_rows["landmarks"]],
                                               np.float32).reshape(n, N_LANDMARKS, 3)
            faces = Faces(block(_BOX[:4]), block(_BOX[4:]).reshape(-1), np.full((n, 5, 2), np.nan), **fields)
            timestamp = first["timestamp"]
            notes = first["notes"]
            out.append(FrameResult(
                source=str(source), width=int(first["width"]), height=int(first["height"]), faces=faces,
                index=int(index), timestamp=None if timestamp is None or timestamp != timestamp else float(timestamp),
                notes=tuple(notes.split("; ")) if isinstance(notes, str) and notes else (),
            ))
        return out

    # -- conversions -----------------------------------------------------------------------------
    def arrow_schema(self) -> Any:
        """The Arrow schema of this layout, with the pandas metadata (`pandas_metadata`) that makes
        `pd.read_parquet` type the nullable integer columns as such."""
        import pyarrow as pa

        types = {"str": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "float32": pa.float32(),
                 "float64": pa.float64(), "bool": pa.bool_(), "float32_list": pa.list_(pa.float32())}
        return pa.schema([pa.field(c.name, types[c.kind]) for c in self.columns], metadata=pandas_metadata(self.names))

    def arrow_table(self, rows: list[list[Any]]) -> Any:
        """Rows (from `rows`) as an Arrow table of this layout's schema."""
        import pyarrow as pa

        schema = self.arrow_schema()
        cols = list(zip(*rows)) if rows else [() for _ in self.columns]
        return pa.Table.from_arrays([pa.array(list(c), type=f.type) for c, f in zip(cols, schema)], schema=schema)

    def csv_line(self, row: list[Any]) -> str:
        """One CSV line (no line end) of a row: floats rounded (timestamps to 6 decimals, others to
        4), booleans as 1/0, missing values empty, lists as JSON."""
        return ",".join(_csv_value(v, c.name) for v, c in zip(row, self.columns))


    def parse_csv_row(self, row: Sequence[str]) -> list[Any]:
        """The values of one CSV row (`csv_line`'s inverse, up to its rounding), typed by the layout."""
        return [_parse_csv_value(v, c.kind) for v, c in zip(row, self.columns)]


def _mesh_of(value: Any) -> np.ndarray:
    """(478, 3) landmarks from a table cell (a list from Parquet, JSON text from CSV); NaN when missing."""
    if isinstance(value, str):
        value = json.loads(value)
    if value is None or isinstance(value, float) or len(value) != N_LANDMARKS * 3:
        return np.full((N_LANDMARKS, 3), np.nan, np.float32)
    return np.asarray(value, np.float32).reshape(N_LANDMARKS, 3)


def _parse_csv_value(v: str, kind: str) -> Any:
    if v == "":
        return None
    if kind == "str":
        return v
    if kind == "bool":
        return v == "1"
    if kind in ("int32", "int64"):
        return int(v)
    if kind == "float32_list":
        return [float(x) for x in json.loads(v)]
    return float(v)


def _csv_value(v: Any, name: str) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return repr(round(v, 6 if name == "timestamp" else 4))
    if isinstance(v, list):
        v = json.dumps([round(x, 2) for x in v])
    if isinstance(v, str):
        if any(ch in v for ch in ',"\n\r'):
            return '"' + v.replace('"', '""') + '"'
        return v
    return str(v)


def pandas_metadata(names: Sequence[str]) -> dict[bytes, bytes]:
    """Arrow schema metadata naming the pandas type of the `NULLABLE_INTS` among `names` (pyarrow
    reads such partial metadata: the other columns keep their Arrow-derived types). The Arrow types
    stay as they are (`face` int32), so shards and rows files written before still read alike."""
    columns = [{"name": n, "field_name": n, "pandas_type": "int64", "numpy_type": NULLABLE_INTS[n], "metadata": None}
               for n in names if n in NULLABLE_INTS]
    doc = {"index_columns": [], "column_indexes": [], "columns": columns, "creator": {"library": "ferx"}}
    return {b"pandas": json.dumps(doc).encode()}


def to_pandas(layout: TableLayout, columns: dict[str, Any], names: Sequence[str]) -> Any:
    """A DataFrame of `columns` (values per column) in the order `names`, typed by the layout:
    float32/float64 with NaN for missing values, nullable integers, object for text and booleans."""
    import pandas as pd

    kinds = {c.name: c.kind for c in layout.columns}
    kinds["face"] = "int64"
    data: dict[str, Any] = {}
    for name in names:
        values, kind = columns[name], kinds[name]
        if kind in ("float32", "float64"):
            data[name] = np.array([np.nan if v is None else v for v in values] if isinstance(values, list) else values,
                                  dtype=kind)
        elif kind in ("int32", "int64") and not any(v is None for v in values):
            data[name] = np.asarray(values, dtype=kind)
        elif kind in ("int32", "int64"):
            data[name] = pd.array(values, dtype="Int64")
        else:
            data[name] = pd.Series(list(values), dtype=object)
    return pd.DataFrame(data)


__all__ = ["LEAD", "NULLABLE_INTS", "Column", "FrameInfo", "TableLayout", "pandas_metadata", "to_pandas"]

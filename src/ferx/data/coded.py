"""FACS-coded faces: images with the AU codes certified coders gave them.

The layout read is the one of `ckplus-facs` (CK+, Lucey et al. 2010, with its coders' AU codes):

    labels.csv   sequence, subject, emotion, au_combination, AU1 … AU27 (1 present, 0 absent)
    images/<emotion>/<sequence>_<frame>.png    the last frames of each sequence; the last is the
                                               coded peak

Codes are presence only (CK+'s intensity letters are not in the table). `CodedFace.peak` marks the
frame the codes belong to; the frames before it are nearly the same face, and are not scored.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferx.data.readers import DatasetError
from ferx.facs import BANDS


@dataclass(frozen=True)
class CodedFace:
    """One image of a coded sequence.

    Attributes:
        path: the image file.
        sequence: e.g. "S010_004".
        subject: e.g. "S010" (for subject-wise splits: no subject on both sides).
        emotion: the sequence's emotion label as the dataset names it.
        frame: frame number within the sequence.
        peak: True for the sequence's last frame, the one the codes describe.
    """

    path: Path
    sequence: str
    subject: str
    emotion: str
    frame: int
    peak: bool


@dataclass(frozen=True)
class CodedFaces:
    """Faces and their AU codes.

    Attributes:
        faces: every image, sorted by path.
        aus: the AU numbers coded, in the table's column order.
        codes: (N, len(aus)) uint8 presence per face (each face has its sequence's codes).
    """

    faces: tuple[CodedFace, ...]
    aus: tuple[int, ...]
    codes: np.ndarray

    @property
    def subjects(self) -> np.ndarray:
        return np.array([f.subject for f in self.faces])

    @property
    def peaks(self) -> np.ndarray:
        return np.array([f.peak for f in self.faces])

    def code(self, number: int) -> np.ndarray:
        """(N,) bool presence of AU `number`."""
        if number not in self.aus:
            raise KeyError(f"AU{number} is not coded in this dataset (coded: {', '.join(f'AU{n}' for n in self.aus)})")
        return self.codes[:, self.aus.index(number)].astype(bool)


def read_coded_faces(root: Path | str) -> CodedFaces:
    """Read a `ckplus-facs`-style folder (see the module docstring).

    Raises:
        DatasetError: labels.csv or images/ missing, a malformed row, an image of an uncoded
            sequence.
    """
    root = Path(root)
    table, images = root / "labels.csv", root / "images"
    if not table.is_file() or not images.is_dir():
        raise DatasetError(f"{root}: not a coded-faces folder (needs labels.csv and images/)")
    with table.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = [c for c in reader.fieldnames or [] if c.upper().startswith("AU") and c[2:].isdigit()]
        missing = {"sequence", "subject"} - set(reader.fieldnames or [])
        if missing or not columns:
            raise DatasetError(f"{table}: needs columns sequence, subject and AU1 … (has {reader.fieldnames})")
        rows = {}
        for line, r in enumerate(reader, start=2):
            try:
                rows[r["sequence"]] = (r["subject"], r.get("emotion", ""), [int(r[c]) for c in columns])
            except (TypeError, ValueError):
                raise DatasetError(f"{table}:{line}: AU columns must be 0 or 1") from None
    paths = sorted(p for p in images.rglob("*.png") if p.is_file())
    if not paths:
        raise DatasetError(f"{images}: no PNG images")
    parsed = []
    for p in paths:
        sequence, _, frame = p.stem.rpartition("_")
        if sequence not in rows or not frame.isdigit():
            raise DatasetError(f"{p}: no coded sequence {sequence!r} in {table.name} (names are <sequence>_<frame>.png)")
        parsed.append((p, sequence, int(frame)))
    last = {}
    for _, sequence, frame in parsed:
        last[sequence] = max(frame, last.get(sequence, frame))
    faces = tuple(CodedFace(p, s, rows[s][0], rows[s][1], fr, fr == last[s]) for p, s, fr in parsed)
    codes = np.array([rows[f.sequence][2] for f in faces], np.uint8)
    return CodedFaces(faces, tuple(int(c[2:]) for c in columns), codes)


@dataclass(frozen=True)
class PhotoCodes:
    """Real photos coded by eye (`data/lfw-au-codes`): per AU a level, 2 clearly present, 1 doubtful
    or a trace, 0 absent, NaN where the region cannot be seen (a hand over the mouth).

    Attributes:
        paths: the images.
        identities: the person in each (for identity-wise cross-validation).
        aus: the AU numbers coded, in the table's column order.
        levels: (N, len(aus)) float levels.
    """

    paths: tuple[Path, ...]
    identities: np.ndarray
    aus: tuple[int, ...]
    levels: np.ndarray

    def usable(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        """(N,) which photos score AU `number` (clearly present or absent; doubtful and unseen left
        out; for AU26 a jaw coded AU27 is left out too, FACS scoring the jaw once) and (N,) whether
        it is present."""
        if number not in self.aus:
            raise KeyError(f"AU{number} is not coded here (coded: {', '.join(f'AU{n}' for n in self.aus)})")
        level = self.levels[:, self.aus.index(number)]
        use = (level == 0) | (level == 2)
        if number == 26 and 27 in self.aus:
            use &= self.levels[:, self.aus.index(27)] != 2
        return use, level == 2

    def rows(self, mask: np.ndarray) -> PhotoCodes:
        """The photos of a boolean (N,) mask."""
        return PhotoCodes(tuple(np.array(self.paths, object)[mask]), self.identities[mask], self.aus, self.levels[mask])

    @staticmethod
    def concat(parts: Sequence[PhotoCodes]) -> PhotoCodes:
        """Several tables as one: the union of their AUs (in first-seen order), an AU a table does not
        code left empty (unseen) on its rows."""
        aus = tuple(dict.fromkeys(n for p in parts for n in p.aus))
        levels = []
        for p in parts:
            block = np.full((len(p.paths), len(aus)), np.nan)
            for j, n in enumerate(p.aus):
                block[:, aus.index(n)] = p.levels[:, j]
            levels.append(block)
        return PhotoCodes(tuple(x for p in parts for x in p.paths), np.concatenate([p.identities for p in parts]), aus,
                          np.concatenate(levels) if levels else np.zeros((0, len(aus))))


def _au_columns(table: Path, reader: csv.DictReader, required: tuple[str, ...]) -> list[str]:
    """A codes table's AU columns (AU1 …), after checking it has them and the `required` columns."""
    names = list(reader.fieldnames or [])
    columns = [c for c in names if c.upper().startswith("AU") and c[2:].isdigit()]
    if not set(required) <= set(names) or not columns:
        raise DatasetError(f"{table}: needs columns {', '.join(required)} and AU1 … (has {reader.fieldnames})")
    numbers = [int(c[2:]) for c in columns]
    if len(set(numbers)) < len(numbers) or len(set(names)) < len(names):
        raise DatasetError(f"{table}: a column twice (AU columns {columns})")
    return columns


def read_photo_codes(table: Path | str, images: Path | str) -> PhotoCodes:
    """Read a by-eye codes table: columns image, identity and AU1 … with levels 0, 1, 2 or empty.

    Raises:
        DatasetError: the table or an image missing, a level other than 0, 1, 2 or empty.
    """
    table, images = Path(table), Path(images)
    if not table.is_file():
        raise DatasetError(f"{table}: no such codes table")
    with table.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = _au_columns(table, reader, ("image", "identity"))
        paths, identities, levels = [], [], []
        for line, r in enumerate(reader, start=2):
            path = images / r["image"]
            if not path.is_file():
                raise DatasetError(f"{table}:{line}: no image {path}")
            row = []
            for c in columns:
                v = (r[c] or "").strip()
                if v not in ("", "0", "1", "2"):
                    raise DatasetError(f"{table}:{line}: {c} must be 0, 1, 2 or empty; got {v!r}")
                row.append(float(v) if v else np.nan)
            paths.append(path)
            identities.append(r["identity"])
            levels.append(row)
    return PhotoCodes(tuple(paths), np.array(identities), tuple(int(c[2:]) for c in columns),
                      np.array(levels, np.float64).reshape(len(paths), len(columns)))


#: FACS intensity bands as numbers: A trace 1 … E maximum 5 (absent 0).
BAND_NUMBERS = {band: k for k, band in enumerate(BANDS, start=1)}


@dataclass(frozen=True)
class IntensityCodes:
    """Real photos coded by eye for AU intensity (`data/lfw-au-intensity`), each by one or more coders.

    Attributes:
        paths: the images (each once).
        identities: the person in each (for identity-wise cross-validation).
        aus: the AU numbers coded, in the table's column order.
        bands: (N, len(aus)) the mean band number (A 1 … E 5, absent 0) over the coders who could judge
            that region; NaN where none could.
        coders: (N, len(aus)) how many coders the mean is over.
        seen: (N, len(aus)) how many of them saw the AU (any band).
        rounds: (N,) the round of coding each photo came from (the table's `round` column; 0 where it has
            none), so that a fit can be checked on a round it was not fitted on.
    """

    paths: tuple[Path, ...]
    identities: np.ndarray
    aus: tuple[int, ...]
    bands: np.ndarray
    coders: np.ndarray
    seen: np.ndarray
    rounds: np.ndarray

    def presence(self, coders: int = 2) -> PhotoCodes:
        """The same photos as presence codes: clearly present (2) where all `coders` saw the AU, absent (0)
        where none did, doubtful (1) where they split or fewer could judge it, unseen (NaN) where none could."""
        levels = np.where(self.seen == 0, 0.0, 1.0)
        levels = np.where((self.coders >= coders) & (self.seen == self.coders), 2.0, levels)
        levels = np.where((self.seen == 0) & (self.coders < coders), 1.0, levels)
        levels = np.where(self.coders == 0, np.nan, levels)
        return PhotoCodes(self.paths, self.identities, self.aus, levels)

    def rows(self, mask: np.ndarray) -> IntensityCodes:
        """The photos of a boolean (N,) mask."""
        return IntensityCodes(tuple(np.array(self.paths, object)[mask]), self.identities[mask], self.aus,
                              self.bands[mask], self.coders[mask], self.seen[mask], self.rounds[mask])

    @staticmethod
    def concat(parts: Sequence[IntensityCodes]) -> IntensityCodes:
        """Several tables (rounds of coding) as one; they must code the same AUs and no photo twice."""
        if len({p.aus for p in parts}) > 1:
            raise DatasetError(f"intensity codes tables code different AUs: {[p.aus for p in parts]}")
        paths = tuple(x for p in parts for x in p.paths)
        if len(set(paths)) < len(paths):
            raise DatasetError("a photo is in more than one intensity codes table")
        return IntensityCodes(paths, np.concatenate([p.identities for p in parts]), parts[0].aus,
                              *(np.concatenate([getattr(p, k) for p in parts]) for k in ("bands", "coders", "seen", "rounds")))


def _intensity_row(table: Path, line: int, r: dict[str, str], columns: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One coder's row as (band sums, judged, seen) per AU column."""
    bands, judged, seen = np.zeros(len(columns)), np.zeros(len(columns), int), np.zeros(len(columns), int)
    for j, c in enumerate(columns):
        v = (r[c] or "").strip().upper()
        if v == "?":
            continue
        if v and v not in BAND_NUMBERS:
            raise DatasetError(f"{table}:{line}: {c} must be a band A–E, ? or empty; got {v!r}")
        bands[j], judged[j], seen[j] = BAND_NUMBERS.get(v, 0), 1, bool(v)
    return bands, judged, seen


def read_intensity_codes(table: Path | str, images: Path | str) -> IntensityCodes:
    """Read an intensity codes table: columns image, identity, coder and AU1 … with a band letter A–E
    where the coder saw the AU, empty where not, ``?`` where the region could not be judged; one row per
    photo and coder.

    Raises:
        DatasetError: the table or an image missing, no rows, an empty image, identity or coder, a cell
            other than A–E, ``?`` or empty, a coder twice on one photo, one photo under two identities.
    """
    table, images = Path(table), Path(images)
    if not table.is_file():
        raise DatasetError(f"{table}: no such intensity codes table")
    rows: dict[str, list[np.ndarray]] = {}  # image -> [band sums, judged, seen]
    who: dict[str, str] = {}
    rounds: dict[str, int] = {}
    coded: set[tuple[str, str]] = set()
    with table.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = _au_columns(table, reader, ("image", "identity", "coder"))
        for line, r in enumerate(reader, start=2):
            name, coder, identity = (r["image"] or "").strip(), (r["coder"] or "").strip(), (r["identity"] or "").strip()
            if not (name and coder and identity):
                raise DatasetError(f"{table}:{line}: image, identity and coder must not be empty")
            if (name, coder) in coded:
                raise DatasetError(f"{table}:{line}: coder {coder!r} codes {name} twice")
            coded.add((name, coder))
            if name not in rows:
                if not (images / name).is_file():
                    raise DatasetError(f"{table}:{line}: no image {images / name}")
                rows[name], who[name] = [np.zeros(len(columns)), np.zeros(len(columns), int), np.zeros(len(columns), int)], identity
            elif who[name] != identity:
                raise DatasetError(f"{table}:{line}: {name} is {identity!r} here and {who[name]!r} on an earlier row")
            number = (r.get("round") or "0").strip()
            if not number.isdigit() or rounds.setdefault(name, int(number)) != int(number):
                raise DatasetError(f"{table}:{line}: round must be a whole number, one per photo; got {number!r}")
            for total, part in zip(rows[name], _intensity_row(table, line, r, columns)):
                total += part
    if not rows:
        raise DatasetError(f"{table}: no coded photos")
    sums, judged, seen = (np.array([rows[n][k] for n in rows]).reshape(len(rows), len(columns)) for k in range(3))
    with np.errstate(invalid="ignore"):
        bands = sums / np.where(judged > 0, judged, np.nan)
    return IntensityCodes(tuple(images / n for n in rows), np.array([who[n] for n in rows]),
                          tuple(int(c[2:]) for c in columns), bands, judged.astype(int), seen.astype(int),
                          np.array([rounds[n] for n in rows], int))

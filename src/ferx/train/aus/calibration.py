"""Fit the AU readings (`ferx.aus.calibrated.AUCalibration`) on FACS-coded faces, and measure them.

    python -m ferx.train.aus calibrate --coded ../shared/data/ckplus-facs \\
        --reference ../shared/data/lfw-expressions --out src/ferx/assets/models/au-facs.json
    python -m ferx.train.aus calibrate ... --mesh-only --name au-facs-mesh --out .../au-facs-mesh.json

What is fitted, per AU (numpy only, no network is trained):
1. Standardisation of every candidate measure (`ferx.aus.measures.CANDIDATES`) on the reference
   faces — lfw-expressions identity half A, the half every lfw choice is made on: centre = median of
   its neutral faces, scale = robust spread of all its faces.
2. On the coded faces (the peak frames of `ckplus-facs`): which one or two candidates to average
   (the best ROC-AUC; a second measure, or an image head instead of the mesh, only where it raises
   the AUC by `PAIR_MARGIN`), the occurrence threshold (the
   best F1, kept where 2.5–25 % of the reference neutral faces read the AU: `REST_PERCENTILES`) and
   the mid point (the median score of coded occurrences, read as C; at least `MIN_SPAN` above A).
   AUs with fewer than `MIN_CODED_CHOICE` coded occurrences keep their first candidate, and below
   `MIN_CODED_THRESHOLD` their threshold comes from the reference faces (`REFERENCE_OCCURRENCE`).
3. Grades: every reading's AUC, F1, precision and recall measured with leave-one-subject-out
   cross-validation — steps 1–2 refitted without the subject, then scored on that subject's faces —
   so no face used to choose something is used to report it (`cross_validate`).
   With `--photo-codes` (real photos coded by eye, `data/lfw-au-codes`): the AUs they score with at
   least `MIN_PHOTO_CODES` clear codes each way take their threshold (best mean F1 over both sets)
   and mid point from both, and their grade is capped by their AUC on the photos — posed 48-px peaks
   flatter a reading (AU4: 0.95 there, 0.79 on the photos). The photos choose measures only where
   the coded faces have too few occurrences to (AU10, AU26: 9 each) and the photos have
   `MIN_CODED_CHOICE` clear codes each way, or where they overrule the coded faces' choice by a
   clear margin (`_photo_overrule`: AU4, AU15); their operating points are reported identity-wise
   cross-validated (`cross_validate_photos`, which refits that choice too).
4. The AU-evidence scoring (neutral level, temperature) for the new readings, on lfw half A as
   before (`choose_scoring`).

CK+ is research-only: these few numbers per AU are all that is taken from it; no weights are fitted
on it, and the model card says so.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ferx import facs
from ferx.aus.calibrated import MID_INTENSITY, AUCalibration, AUMeasurer, AUReading
from ferx.aus.measures import CANDIDATES, parse
from ferx.data.coded import IntensityCodes, PhotoCodes, read_coded_faces, read_intensity_codes, read_photo_codes
from ferx.facs import AU_CODES, AU_NUMBERS, EXPRESSIONS, OCCURRENCE_THRESHOLD
from ferx.train.aus.intensity import refit_spans

#: At most this many measures are averaged for one AU (three were no better in cross-validation).
MAX_MEASURES = 2
#: A second measure is averaged in only where the pair's AUC beats the best single measure's by this
#: much, and an image head is used only where it beats the mesh's best by this much: with a few dozen
#: coded occurrences, smaller gains are as likely noise, and a choice that flips between subjects left
#: out makes the readings less comparable from face to face (cross-validated AU23: 0.78 with any gain
#: allowed; the heads in-sample ahead of the mesh on AU2, AU5 and AU6 were behind it cross-validated,
#: docs/aus.md).
PAIR_MARGIN = 0.01
#: The least distance, in standardised score units (≈ one standard deviation of the reference faces),
#: from the threshold (band A) to the mid point (band C): band E is then at least 2.3 units above A.
MIN_SPAN = 1.0
#: Coded occurrences an AU needs before the coded faces may choose its measures / set its threshold.
MIN_CODED_CHOICE = 10
MIN_CODED_THRESHOLD = 8
#: The coded photos overrule the coded faces' choice of measures where their best candidate reads the
#: photos at least this much better (AUC) and the coded faces at most `PHOTO_OVERRULE_COST` worse
#: (criterion written first: docs/runs/au-photo-choice-2026-12-07/criterion.md).
PHOTO_OVERRULE_GAIN = 0.05
PHOTO_OVERRULE_COST = 0.03
#: AUs a coding rule ties to another (`facs.CODING_RULES`): read against each other, never overruled.
_RULE_BOUND = frozenset(n for r in facs.CODING_RULES for n in (r.a, r.b))
#: Clearly present and absent photo codes an AU needs before the coded photos take part in its threshold,
#: mid point and grade.
MIN_PHOTO_CODES = 8
#: The best grade of an AU with fewer than MIN_CODED_CHOICE coded occurrences: too few to grade it higher.
FEW_CODES_CAP = "weak"
#: The coded faces are posed peaks with no face at rest, so an F1-best threshold on them only has to
#: fall between strong occurrences and other expressions: on lfw-expressions' neutral faces it read
#: AU1 on 40 % and AU7 on 40 %, while the smiles of its happy photos, milder than posed ones, missed
#: AU12 on half. The threshold is kept where 2.5–25 % of the reference neutral faces read the AU
#: (these percentiles of their scores), except for AUs seen at rest (lips part, AU25). Chosen with the
#: coded faces' cross-validated F1 and the reference faces (docs/aus.md): a 20 % bound cost F1 (0.70
#: instead of 0.71), 30 % let more neutral faces show AUs (16 % of AU readings instead of 14.5 %).
REST_PERCENTILES = (75.0, 97.5)
AT_REST: tuple[int, ...] = (25,)
#: AUs without enough codes: the threshold at this percentile of the reference neutral faces' scores,
#: the mid point at this percentile of all reference faces'.
REFERENCE_OCCURRENCE, REFERENCE_MID = 97.5, 99.5
#: AUs in the README's mean (at least this many coded occurrences on the peak frames).
MEAN_MIN_POSITIVES = 10
#: Choices searched on the reference faces for the AU-only scorer (as before, issue 11).
NEUTRAL_LEVELS = tuple(np.round(np.arange(0.04, 0.26, 0.01), 2))
TEMPERATURES = (0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3)


# -- measurements --------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeasuredFaces:
    """Measures of one face per image (the largest), as the analyzer reads it.

    Attributes:
        names: measure names (columns).
        values: (N, M); NaN rows where no face was found.
        found: (N,) a face was found.
        blendshapes: (N, 52) of the face (for the one-sided AUs of the AU-only scorer).
        landmarks: (N, 478, 3) of the face in image pixels (float16: crops for training the heads).
    """

    names: tuple[str, ...]
    values: np.ndarray
    found: np.ndarray
    blendshapes: np.ndarray
    landmarks: np.ndarray

    def columns(self, names: Sequence[str]) -> np.ndarray:
        index = {n: j for j, n in enumerate(self.names)}
        return self.values[:, [index[n] for n in names]]

    def rows(self, mask: np.ndarray) -> MeasuredFaces:
        return MeasuredFaces(self.names, self.values[mask], self.found[mask], self.blendshapes[mask], self.landmarks[mask])


def candidate_measures(heads: bool) -> tuple[str, ...]:
    """Every candidate measure of every AU (without the image heads' when `heads` is False)."""
    names = dict.fromkeys(m for c in CANDIDATES.values() for m in c)
    return tuple(m for m in names if heads or parse(m)[1] != "h")


def measure_images(paths: Sequence[Path], names: Sequence[str], heads: str | None, progress: bool = True,
                   analyzer: Any = None, cache: Path | None = None) -> MeasuredFaces:
    """Measures of the largest face the analyzer finds in each image (by default the default
    pipeline's detection and whole-image rule for face crops, without the verifier and the tighter
    tight-crop boxes, as the shipped calibration was measured), computed from the same landmarks and
    image as the AU stage would.

    Args:
        cache: a folder to keep the measurements in, keyed by the images, measures, head model file
            and analyzer configuration — not by ferx's code: clear it after changing the landmarker.
    """
    from ferx.train import dataset_analyzer

    if cache is not None:
        from ferx.assets import packaged_model

        model = None if heads is None else packaged_model(heads, "AU model")[1]["sha256"]  # the file, not its name
        key = hashlib.sha1(json.dumps([[str(p) for p in paths], list(names), model,
                                       None if analyzer is None else analyzer.config.to_dict()]).encode()).hexdigest()[:16]
        path = Path(cache) / f"measures-{key}.npz"
        if path.is_file():
            with np.load(path) as z:
                return MeasuredFaces(tuple(z["names"]), z["values"], z["found"], z["blendshapes"], z["landmarks"])
        faces = measure_images(paths, names, heads, progress, analyzer)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, names=np.array(faces.names), values=faces.values, found=faces.found,
                 blendshapes=faces.blendshapes, landmarks=faces.landmarks)
        tmp.replace(path)
        return faces

    own = analyzer is None
    # the tighter tight-crop boxes would find a few more lfw faces and move the reference faces'
    # standardisation (AU1's threshold 0.690 → 0.687): a refit of its own
    analyzer = analyzer or dataset_analyzer()
    measurer = AUMeasurer(heads)
    values = np.full((len(paths), len(names)), np.nan, np.float32)
    blend = np.full((len(paths), len(facs.BLENDSHAPES)), np.nan, np.float32)
    marks = np.full((len(paths), 478, 3), np.nan, np.float16)
    found = np.zeros(len(paths), bool)
    try:
        items = _progress(paths, "measuring faces", progress)
        for i, path in enumerate(items):
            frame = analyzer.decode(path, source=str(path))
            faces = analyzer.analyze(frame).faces
            if not len(faces):
                continue
            k = int(faces.largest_rows(1)[0])
            values[i] = measurer.values(frame.image, faces[[k]], names)[0]
            blend[i] = faces.blendshapes[k]
            marks[i] = faces.landmarks[k]
            found[i] = True
    finally:
        measurer.close()
        if own:
            analyzer.close()
    return MeasuredFaces(tuple(names), values, found, blend, marks)


def _progress(items: Sequence[Any], what: str, show: bool) -> Iterable[Any]:
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=what, file=sys.stderr, leave=False)


# -- metrics -------------------------------------------------------------------------------------
def roc_auc(scores: np.ndarray, present: np.ndarray) -> float:
    """ROC-AUC of scores against presence, ties counted half; NaN scores rank lowest."""
    y = np.asarray(present, bool)
    s = np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf)
    npos, nneg = int(y.sum()), int((~y).sum())
    if not npos or not nneg:
        return float("nan")
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inv]
    return float((ranks[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def detection_scores(predicted: np.ndarray, present: np.ndarray) -> dict[str, float]:
    """F1, precision and recall of a yes/no reading."""
    p, y = np.asarray(predicted, bool), np.asarray(present, bool)
    tp = int((p & y).sum())
    precision = tp / p.sum() if p.sum() else 0.0
    recall = tp / y.sum() if y.sum() else float("nan")
    return {"f1": 2 * tp / max(int(p.sum() + y.sum()), 1), "precision": float(precision), "recall": float(recall)}


def best_f1_threshold(scores: np.ndarray, present: np.ndarray) -> float:
    """The score threshold with the best F1 (halfway between the lowest score read as present and
    the score below it; the highest such threshold where several tie)."""
    return best_mean_f1_threshold([(scores, present)])


def best_mean_f1_threshold(sets: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """The score threshold with the best mean F1 over several (scores, presence) sets — the coded
    peak frames and the coded photos, each counting once whatever its size; as `best_f1_threshold`
    for one set."""
    sets = [(np.nan_to_num(np.asarray(s, np.float64), nan=-np.inf), np.asarray(y, bool)) for s, y in sets]
    values = np.unique(np.concatenate([s[np.isfinite(s)] for s, _ in sets]))
    if not len(values) or not any(y.any() for _, y in sets):
        return float(values.max() + 1.0) if len(values) else 0.0
    best, best_f1 = values[-1], -1.0
    for v in values:  # ascending, so ">=" keeps the highest threshold among ties
        f1 = float(np.mean([detection_scores(s >= v, y)["f1"] for s, y in sets]))
        if f1 >= best_f1:
            best, best_f1 = v, f1
    below = values[values < best]
    return float((best + below.max()) / 2 if len(below) else best - 1e-3)


# -- fitting -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Standardisation:
    """Per measure: centre (median of the reference neutral faces) and scale (robust spread of all)."""

    centre: dict[str, float]
    scale: dict[str, float]

    @classmethod
    def fit(cls, reference: MeasuredFaces, neutral: np.ndarray) -> Standardisation:
        ok = reference.found
        centre, scale = {}, {}
        for j, name in enumerate(reference.names):
            v = reference.values[ok, j].astype(np.float64)
            centre[name] = float(np.median(v[neutral[ok]]))
            q75, q25 = np.percentile(v, [75, 25])
            spread = (q75 - q25) / 1.349  # σ of a normal distribution
            if not spread > 1e-6:  # a measure that is ~0 on most faces (many blendshapes): its plain σ
                spread = float(v.std())
            scale[name] = float(spread) if spread > 1e-6 else 1.0
        return cls(centre, scale)

    def z(self, faces: MeasuredFaces, names: Sequence[str]) -> np.ndarray:
        c = np.array([self.centre[n] for n in names])
        s = np.array([self.scale[n] for n in names])
        return (faces.columns(names).astype(np.float64) - c) / s


def _reading(code: str, measures: Sequence[str], std: Standardisation, threshold: float, mid: float,
             source: str) -> AUReading:
    return AUReading(code, tuple(measures), tuple(std.centre[m] for m in measures),
                     tuple(std.scale[m] for m in measures), float(threshold), float(mid), source=source)


def _choose(z: np.ndarray, y: np.ndarray, heads: np.ndarray) -> tuple[int, ...]:
    """Columns of `z` to average: the single measure with the best AUC, or a pair where it beats that
    by at least PAIR_MARGIN — first among the mesh's measures, and a choice with an image head (the
    columns `heads`) only where it beats the mesh's by PAIR_MARGIN too."""
    auc = {c: roc_auc(z[:, c].mean(1), y) for r in range(1, MAX_MEASURES + 1)
           for c in itertools.combinations(range(z.shape[1]), r)}

    def best_of(options: list[tuple[int, ...]]) -> tuple[int, ...] | None:
        single = max((c for c in options if len(c) == 1), key=lambda c: auc[c], default=None)
        pair = max((c for c in options if len(c) > 1), key=lambda c: auc[c], default=None)
        if single is None or (pair is not None and auc[pair] >= auc[single] + PAIR_MARGIN):
            return pair
        return single

    mesh = best_of([c for c in auc if not heads[list(c)].any()])
    both = best_of(list(auc))
    if mesh is None or (both is not None and auc[both] >= auc[mesh] + PAIR_MARGIN):
        return both  # type: ignore[return-value]
    return mesh


@dataclass(frozen=True)
class CodedPhotos:
    """Real photos coded by eye (`ferx.data.coded.PhotoCodes`) and their measures."""

    faces: MeasuredFaces
    codes: PhotoCodes

    def scored(self, number: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows, presence) of the photos that score AU `number`, where there are at least
        MIN_PHOTO_CODES clearly present and as many absent; else None."""
        if number not in self.codes.aus:
            return None
        use, present = self.codes.usable(number)
        use &= self.faces.found
        if present[use].sum() < MIN_PHOTO_CODES or (~present[use]).sum() < MIN_PHOTO_CODES:
            return None
        return use, present[use]

    def rows(self, mask: np.ndarray) -> CodedPhotos:
        return CodedPhotos(self.faces.rows(mask), self.codes.rows(mask))


@dataclass(frozen=True)
class _Choice:
    """One AU's candidate measures, their standardised scores on the coded faces (`z`, presence `y`) and
    photos (`extra`), the columns chosen (`best`), and whether the photos may overrule that choice."""

    candidates: list[str]
    z: np.ndarray
    y: np.ndarray
    extra: list[tuple[np.ndarray, np.ndarray]]
    best: tuple[int, ...]
    photos_may_overrule: bool


def _photo_overrule(number: int, chosen: dict[int, _Choice]) -> _Choice:
    """`chosen[number]`, with its measures replaced by the candidate (one or two measures) with the best
    AUC on the coded photos where that beats the coded faces' choice there by `PHOTO_OVERRULE_GAIN` and
    costs at most `PHOTO_OVERRULE_COST` on the coded faces.

    Why: the posed 48-px peaks choose AU4's gap-and-head pair, which reads real photos at AUC 0.770
    against 0.844 for `h:AU4` alone (0.564 / 0.700 under a raised inner brow, the grief brow the gap
    reads as no lowering); docs/runs/au-photo-choice-2026-12-07. Not for AUs a coding rule binds to
    another (their AUC does not measure what a new measure does to the pair: AU27 read from the lips'
    gap took AU26's occurrences there), and never a measure another AU's reading uses, in either sign (two
    readings of one distance are copies, and the facial logic between them then decides at random).

    The candidates are ranked by their photo AUC alone, pairs and image heads included, without
    `_choose`'s PAIR_MARGIN and preference for the mesh: the overrule's own bar (0.05) is five times
    that margin. AUs are taken in `AU_NUMBERS` order, each against the choices as they stand (the
    earlier AUs' after their overrule, the later ones' before theirs).
    """
    c = chosen[number]
    if not c.photos_may_overrule or number in _RULE_BOUND:
        return c
    used = {c2.candidates[j].lstrip("-") for n2, c2 in chosen.items() if n2 != number for j in c2.best}
    zp, yp = c.extra[0]
    combos = [k for r in range(1, MAX_MEASURES + 1) for k in itertools.combinations(range(len(c.candidates)), r)
              if not used & {c.candidates[j].lstrip("-") for j in k}]
    if not combos:
        return c
    photo_auc = {k: roc_auc(zp[:, k].mean(1), yp) for k in [*combos, c.best]}
    top = max(combos, key=lambda k: photo_auc[k])
    if (photo_auc[top] >= photo_auc[c.best] + PHOTO_OVERRULE_GAIN
            and roc_auc(c.z[:, top].mean(1), c.y) >= roc_auc(c.z[:, c.best].mean(1), c.y) - PHOTO_OVERRULE_COST):
        return replace(c, best=top)
    return c


def fit_readings(coded: MeasuredFaces, present: dict[int, np.ndarray], reference: MeasuredFaces,
                 reference_neutral: np.ndarray, std: Standardisation, heads: bool,
                 photos: CodedPhotos | None = None) -> tuple[AUReading, ...]:
    """Every AU's reading, chosen on the coded faces given (see the module docstring).

    Args:
        coded: measures of the coded faces (rows without a face are ignored).
        present: AU number → (N,) coded presence; AUs not coded use the reference faces.
        reference, reference_neutral: the reference faces and which are neutral.
        std: the standardisation of every measure.
        heads: whether image-head measures may be chosen.
        photos: real photos coded by eye; for an AU they score (`CodedPhotos.scored`) the threshold
            is the best mean F1 over them and the coded faces, and the mid point the mean of the two
            sets' median occurrences. They choose the measures only where the coded faces cannot
            (fewer than MIN_CODED_CHOICE occurrences) and they have MIN_CODED_CHOICE clear codes each
            way: letting them take part in every choice (mean AUC of the two sets) made it flip
            between folds in development — coded faces' cross-validated mean AUC 0.941 → 0.934, F1
            0.723 → 0.713 — for a photo F1 of 0.555 against 0.541 with thresholds alone. Where both
            can choose, the photos overrule the coded faces' choice only by a clear margin
            (`_photo_overrule`).
    """
    ok = coded.found
    chosen: dict[int, _Choice] = {}
    for number in AU_NUMBERS:
        candidates = [m for m in CANDIDATES[number] if heads or parse(m)[1] != "h"]
        y = present.get(number, np.zeros(len(ok), bool))[ok]
        z = std.z(coded.rows(ok), candidates)
        scored = None if photos is None else photos.scored(number)
        extra = [] if scored is None else [(std.z(photos.faces.rows(scored[0]), candidates), scored[1])]  # type: ignore[union-attr]
        is_head = np.array([parse(m)[1] == "h" for m in candidates])
        photo_choice = bool(extra) and extra[0][1].sum() >= MIN_CODED_CHOICE and (~extra[0][1]).sum() >= MIN_CODED_CHOICE
        coded_choice = bool(y.sum() >= MIN_CODED_CHOICE and (~y).any())
        if coded_choice:
            best = _choose(z, y, is_head)
        elif photo_choice:
            # the coded faces have too few occurrences to choose (AU10, AU26 on CK+), the photos enough
            best = _choose(extra[0][0], extra[0][1], is_head)
        else:
            best = (0,)
        # the photos may overrule only a choice the coded faces made
        chosen[number] = _Choice(candidates, z, y, extra, best, coded_choice and photo_choice)
    out = []
    for number in AU_NUMBERS:
        c = chosen[number] = _photo_overrule(number, chosen)
        code, candidates, z, y, extra, best = f"AU{number}", c.candidates, c.z, c.y, c.extra, c.best
        measures = [candidates[j] for j in best]
        ref = std.z(reference.rows(reference.found), measures).mean(1)
        neutral = reference_neutral[reference.found]
        sets = ([(z[:, best].mean(1), y)] if y.sum() >= MIN_CODED_THRESHOLD and (~y).any() else []) + \
            [(zp[:, best].mean(1), yp) for zp, yp in extra]
        if sets:
            threshold = best_mean_f1_threshold(sets)
            if number not in AT_REST:
                lo, hi = np.percentile(ref[neutral], REST_PERCENTILES)
                threshold = float(np.clip(threshold, lo, hi))
            # the median coded occurrence reads C, but never less than MIN_SPAN above the threshold:
            # where the coded occurrences crowd just above it, a steeper scale would call most
            # readings "maximum" (AU14: C at 0.27 standard deviations above A, E at 0.7)
            mid = max(float(np.mean([np.median(s[v]) for s, v in sets])), threshold + MIN_SPAN)
            source = " and ".join(name for name, used in (("coded faces", len(sets) > len(extra)),
                                                          ("coded photos", bool(extra))) if used)
            out.append(_reading(code, measures, std, threshold, mid, source))
        else:
            threshold = float(np.percentile(ref[neutral], REFERENCE_OCCURRENCE))
            mid = max(float(np.percentile(ref, REFERENCE_MID)), threshold + 0.5)
            out.append(_reading(code, measures, std, threshold, mid, "reference faces"))
    return tuple(out)


def _calibration(name: str, readings: Sequence[AUReading], heads: str | None, heads_sha256: str | None,
                 **extra: Any) -> AUCalibration:
    return AUCalibration(name, tuple(readings), heads, heads_sha256, **extra)


def cross_validate(coded: MeasuredFaces, present: dict[int, np.ndarray], subjects: np.ndarray,
                   reference: MeasuredFaces, reference_neutral: np.ndarray, std: Standardisation,
                   heads: str | None, heads_sha256: str | None, photos: CodedPhotos | None = None) -> np.ndarray:
    """(N, K) out-of-fold intensities: each subject's faces read with readings fitted without them
    (leave-one-subject-out; the coded photos, if any, in every fit), facial logic applied. Rows
    without a face are NaN."""
    out = np.full((len(subjects), len(AU_CODES)), np.nan, np.float32)
    for subject in np.unique(subjects):
        held = subjects == subject
        train = ~held
        readings = fit_readings(coded.rows(train), {n: p[train] for n, p in present.items()}, reference,
                                reference_neutral, std, heads is not None, photos)
        cal = _calibration("cv", readings, heads, heads_sha256)
        out[held] = cal.intensities(coded.rows(held).columns(cal.measures))
    return out


def cross_validate_photos(photos: CodedPhotos, coded: MeasuredFaces, present: dict[int, np.ndarray],
                          reference: MeasuredFaces, reference_neutral: np.ndarray, std: Standardisation,
                          heads: str | None, heads_sha256: str | None) -> np.ndarray:
    """(P, K) out-of-fold intensities of the coded photos: each person's photos read with readings
    fitted without them (leave-one-identity-out; every coded peak frame in every fit)."""
    out = np.full((len(photos.codes.identities), len(AU_CODES)), np.nan, np.float32)
    for identity in np.unique(photos.codes.identities):
        held = photos.codes.identities == identity
        readings = fit_readings(coded, present, reference, reference_neutral, std, heads is not None,
                                photos.rows(~held))
        cal = _calibration("cv", readings, heads, heads_sha256)
        rows = photos.faces.rows(held)
        out[held & photos.faces.found] = cal.intensities(rows.rows(rows.found).columns(cal.measures))
    return out


def _share(flags: np.ndarray) -> float:
    """The share of True flags; NaN (no warning) where there are none (an AU no photo is coded without)."""
    return float(np.mean(flags)) if len(flags) else float("nan")


def score_photos(intensities: np.ndarray, codes: PhotoCodes, scores: np.ndarray | None = None
                 ) -> dict[str, dict[str, float]]:
    """Per AU coded on the photos: AUC (absent vs clearly present) of `scores` where given, else of the
    intensities; F1 / precision / recall of "present" (≥ band A); and how often A is reached on
    absent, doubtful and present codes. The photos choose no measure except where the coded faces
    cannot (AU10, AU26), so for every other AU the AUC of the final readings' scores is out-of-sample
    for them; out-of-fold intensities pooled over folds whose thresholds differ would rank faces by
    fold as well as by movement."""
    out = {}
    for number in codes.aus:
        if f"AU{number}" not in AU_CODES:
            continue
        use, y = codes.usable(number)
        use &= ~np.isnan(intensities[:, 0])  # rows of photos without a face are NaN throughout
        v = intensities[:, AU_CODES.index(f"AU{number}")]
        level = codes.levels[:, codes.aus.index(number)]
        doubtful = (level == 1) & ~np.isnan(v)
        if not (y[use]).any():
            continue
        out[f"AU{number}"] = {"positives": int(y[use].sum()), "absent": int((~y[use]).sum()),
                              "auc": roc_auc((v if scores is None else scores[:, AU_CODES.index(f"AU{number}")])[use], y[use]),
                              **detection_scores(v[use] >= OCCURRENCE_THRESHOLD, y[use]),
                              "read_on_absent": _share(v[use & ~y] >= OCCURRENCE_THRESHOLD),
                              "missed_on_present": _share(v[use & y] < OCCURRENCE_THRESHOLD),
                              "read_on_doubtful": _share(v[doubtful] >= OCCURRENCE_THRESHOLD)}
    return out


def score_readings(intensities: np.ndarray, present: dict[int, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per coded AU: AUC of the intensity, and F1 / precision / recall of "present" (≥ band A)."""
    out = {}
    for number, y in present.items():
        if f"AU{number}" not in AU_CODES:
            continue
        v = intensities[:, AU_CODES.index(f"AU{number}")]
        out[f"AU{number}"] = {"positives": int(y.sum()), "auc": roc_auc(v, y),
                              **detection_scores(np.nan_to_num(v, nan=0.0) >= OCCURRENCE_THRESHOLD, y)}
    return out


def summary(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    """Means over the AUs with at least MEAN_MIN_POSITIVES occurrences (the ckplus-facs protocol)."""
    rows = [r for r in scores.values() if r["positives"] >= MEAN_MIN_POSITIVES]
    return {"aus": len(rows), "mean_auc": float(np.mean([r["auc"] for r in rows])),
            "mean_f1": float(np.mean([r["f1"] for r in rows]))}


# -- AU-only expression scoring -----------------------------------------------------------------
def au_only_probabilities(aus: np.ndarray, blendshapes: np.ndarray, profile: facs.AUProfile, neutral: float,
                          temperature: float) -> np.ndarray:
    """(N, 8) AU-only expression probabilities (`facs.au_evidence` with the profile's measured AUs)."""
    clean = np.nan_to_num(aus)
    ev = facs.au_evidence(clean, facs.one_sidedness(clean, blendshapes), profile)
    return facs.evidence_probabilities(ev, neutral, temperature)


def accuracy(p: np.ndarray, labels: np.ndarray) -> float:
    return float((np.array(EXPRESSIONS)[p.argmax(1)] == np.asarray(labels)).mean())


def log_loss(p: np.ndarray, labels: np.ndarray) -> float:
    idx = np.array([EXPRESSIONS.index(e) for e in labels])
    return float(-np.log(np.clip(p[np.arange(len(labels)), idx], 1e-9, 1)).mean())


def choose_scoring(aus: np.ndarray, blendshapes: np.ndarray, labels: np.ndarray, profile: facs.AUProfile
                   ) -> tuple[float, float]:
    """The neutral evidence level by accuracy (at T = 0.05), then the temperature by log-loss."""
    def probs(n: float, t: float) -> np.ndarray:
        return au_only_probabilities(aus, blendshapes, profile, n, t)

    neutral = max(NEUTRAL_LEVELS, key=lambda n: (accuracy(probs(n, 0.05), labels), -n))
    temperature = min(TEMPERATURES, key=lambda t: log_loss(probs(neutral, t), labels))
    return float(neutral), float(temperature)


# -- the command ---------------------------------------------------------------------------------
def reference_faces(root: Path, names: Sequence[str], heads: str | None, progress: bool, cache: Path | None = None
                    ) -> tuple[MeasuredFaces, np.ndarray]:
    """lfw-expressions identity half A (the lfw half choices are made on): measures and labels."""
    from ferx.data.readers import open_dataset

    samples = open_dataset(f"lfw-expressions:{root}", "val", partition="halves").samples
    faces = measure_images([s.path for s in samples], names, heads, progress, cache=cache)
    return faces, np.array([s.label for s in samples])


#: A by-eye codes table and the folder its image names are relative to (None: the lfw-expressions
#: images of the reference folder).
PhotoTable = tuple[Path, Path | None]


#: `fit`'s photo_codes: one table, several, or none.
PhotoCodesArg = Path | Sequence[Path | PhotoTable] | None


def photo_tables(photo_codes: PhotoCodesArg) -> list[PhotoTable]:
    """`fit`'s photo_codes as (table, images) pairs: one table or several, each a path (lfw-expressions
    images) or a (path, images folder) pair."""
    if photo_codes is None:
        return []
    items = [photo_codes] if isinstance(photo_codes, (str, Path)) else list(photo_codes)
    return [(Path(t[0]), None if t[1] is None else Path(t[1])) if isinstance(t, tuple) else (Path(t), None) for t in items]


def read_tables(tables: Sequence[PhotoTable], reference_root: Path) -> PhotoCodes:
    """By-eye codes tables as one set (an AU a table does not code is unseen on its rows)."""
    return PhotoCodes.concat([read_photo_codes(t, Path(reference_root) / "images" if images is None else images)
                              for t, images in tables])


def coded_photos(codes: PhotoCodes, names: Sequence[str], heads: str | None, progress: bool,
                 cache: Path | None) -> CodedPhotos:
    """Photos coded by eye (`read_tables`) and their measures."""
    return CodedPhotos(measure_images(list(codes.paths), names, heads, progress, cache=cache), codes)


def _graded(reading: AUReading, s: dict[str, float] | None) -> AUReading:
    """The reading with its cross-validated scores on the coded faces (where it has enough codes)."""
    enough = s is not None and s["positives"] >= MIN_CODED_THRESHOLD
    return replace(reading, positives=0 if s is None else s["positives"],
                   **({k: round(s[k], 4) for k in ("auc", "f1", "precision", "recall")} if enough else {}))  # type: ignore[index]


def _final_scores(photos: CodedPhotos, readings: Sequence[AUReading], heads: str | None,
                  heads_sha256: str | None) -> np.ndarray:
    """(P, K) scores of the coded photos under the final readings (NaN rows without a face)."""
    found = photos.faces.found
    out = np.full((len(found), len(AU_CODES)), np.nan)
    cal = _calibration("final", readings, heads, heads_sha256)
    out[found] = cal.scores(photos.faces.rows(found).columns(cal.measures))
    return out


def _photo_caps(caps: dict[int, str], photo_scores: dict[str, dict[str, float]]) -> dict[int, str]:
    """`caps` with each AU the photos score (MIN_PHOTO_CODES each way) capped by its AUC on them: a
    reading graded on posed peaks is only as reliable as it is on real photos."""
    out = dict(caps)
    for code, s in photo_scores.items():
        number = int(code[2:])
        if s["positives"] >= MIN_PHOTO_CODES and s["absent"] >= MIN_PHOTO_CODES and number in AU_NUMBERS:
            cap = facs.grade_of(s["auc"])
            if number not in out or facs.RELIABILITY_GRADES.index(cap) > facs.RELIABILITY_GRADES.index(out[number]):
                out[number] = cap
    return out


def _intensity_scales(calibration: AUCalibration, codes: IntensityCodes, names: Sequence[str], heads: str | None,
                      progress: bool, cache: Path | None) -> tuple[AUCalibration, list[dict[str, object]]]:
    """The calibration with the mid points its intensity-coded photos support (`intensity.refit_spans`)."""
    faces = measure_images(list(codes.paths), names, heads, progress, cache=cache)
    scores = np.full((len(codes.paths), len(AU_CODES)), np.nan)
    scores[faces.found] = calibration.scores(faces.rows(faces.found).columns(calibration.measures))
    readings, fits = refit_spans(calibration.readings, scores, codes)
    return replace(calibration, readings=readings), [f.as_dict() for f in fits]


def with_intensity_presence(codes: PhotoCodes | None, bands: IntensityCodes | None) -> PhotoCodes:
    """`codes` and, as presence codes (`IntensityCodes.presence`: both coders saw it, neither, or split), the
    intensity-coded photos no presence table codes: a photo is coded for presence once, by its presence
    table where it has one."""
    if bands is None:
        raise ValueError("presence from intensity codes needs the intensity codes")
    known = set() if codes is None else {Path(p).resolve() for p in codes.paths}
    extra = bands.rows(np.array([Path(p).resolve() not in known for p in bands.paths], bool)).presence()
    return extra if codes is None else PhotoCodes.concat([codes, extra])


def _heads_sha256(heads: str | None) -> str | None:
    """The image-head model file's sha256 (None without heads)."""
    if heads is None:
        return None
    from ferx.aus.image_heads import ImageHeads

    runner = ImageHeads(heads)
    try:
        return runner.sha256
    finally:
        runner.close()


def read_intensity_tables(tables: Path | Sequence[Path] | None, images: Path) -> tuple[list[Path], IntensityCodes | None]:
    """`fit`'s intensity_codes (one table, several — rounds of coding — or none) as a list and one set."""
    paths = [] if tables is None else [Path(tables)] if isinstance(tables, (str, Path)) else [Path(t) for t in tables]
    return paths, IntensityCodes.concat([read_intensity_codes(t, images) for t in paths]) if paths else None


def _info(tables: Sequence[PhotoTable], photos: int | None, intensity_codes: Sequence[Path],
          spans: list[dict[str, object]] | None, summary: dict[str, float]) -> dict[str, Any]:
    """How a calibration was fitted, for its JSON's `info`."""
    return {"fitted": datetime.date.today().isoformat(), "command": " ".join(["python -m ferx.train.aus", *sys.argv[1:]]),
            "coded_faces": "ckplus-facs peak frames (research-only: readings' measures, thresholds and mid points only)",
            "reference_faces": "lfw-expressions identity half A (standardisation, AU-only scoring)",
            "grades": "leave-one-subject-out cross-validated AUC on the coded faces",
            **({} if photos is None else {"coded_photos": f"{', '.join(str(t) for t, _ in tables)}: {photos} "
                f"photos coded by eye (thresholds, mid points, grade caps of the AUs with {MIN_PHOTO_CODES}+ clear codes each "
                f"way; measures where the coded faces have too few occurrences to choose)"}),
            **({} if spans is None else {"intensity_codes": f"{', '.join(map(str, intensity_codes))}: mid points of "
                f"{', '.join(str(f['code']) for f in spans if f['changed']) or 'no AU'} (band error, identity-wise cross-validated)"}),
            "summary": summary}


def fit(coded_root: Path, reference_root: Path, name: str, heads: str | None, progress: bool = True,
        cache: Path | None = None, photo_codes: PhotoCodesArg = None, intensity_codes: Path | Sequence[Path] | None = None,
        intensity_presence: bool = False) -> tuple[AUCalibration, dict[str, Any]]:
    """The calibration fitted on every coded subject (and the coded photos of `photo_codes`: codes tables,
    `photo_tables`; the intensity codes of `intensity_codes`, one table or several, images in the reference folder, and with
    `intensity_presence` those of its photos no presence table codes as presence codes too), and the
    record of what was measured (its cross-validated scores: the grades)."""
    tables = photo_tables(photo_codes)
    codes = read_tables(tables, reference_root) if tables else None  # a wrong table fails before any measuring
    intensity_codes, bands = read_intensity_tables(intensity_codes, Path(reference_root) / "images")
    if intensity_presence:
        codes, tables = with_intensity_presence(codes, bands), [*tables, *((Path(f"{t} (presence)"), None) for t in intensity_codes)]
    names = candidate_measures(heads is not None)
    heads_sha256 = _heads_sha256(heads)
    data = read_coded_faces(coded_root)
    peaks = data.peaks
    coded = measure_images([f.path for f in np.array(data.faces)[peaks]], names, heads, progress, cache=cache)
    present = {n: data.code(n)[peaks] for n in data.aus if n in AU_NUMBERS}
    subjects = data.subjects[peaks]
    reference, labels = reference_faces(reference_root, names, heads, progress, cache)
    neutral = labels == "neutral"
    std = Standardisation.fit(reference, neutral)
    photos = None if codes is None else coded_photos(codes, names, heads, progress, cache)

    oof = cross_validate(coded, present, subjects, reference, neutral, std, heads, heads_sha256, photos)
    scores = score_readings(oof, present)
    readings = fit_readings(coded, present, reference, neutral, std, heads is not None, photos)
    photo_scores = None
    if photos is not None:
        oof_photos = cross_validate_photos(photos, coded, present, reference, neutral, std, heads, heads_sha256)
        photo_scores = score_photos(oof_photos, photos.codes, _final_scores(photos, readings, heads, heads_sha256))
    graded = [_graded(r, scores.get(r.code)) for r in readings]
    caps = {int(r.code[2:]): FEW_CODES_CAP for r in graded if r.auc is not None and r.positives < MIN_CODED_CHOICE}
    calibration = _calibration(name, graded, heads, heads_sha256, grade_caps=_photo_caps(caps, photo_scores or {}))
    spans = None
    if bands is not None:
        calibration, spans = _intensity_scales(calibration, bands, names, heads, progress, cache)

    # AU-only scoring on the reference faces (lfw half A), as chosen for every estimator before
    ok = reference.found
    ref_aus = calibration.intensities(reference.rows(ok).columns(calibration.measures))
    profile = calibration.profile()
    n_level, temperature = choose_scoring(ref_aus, reference.blendshapes[ok], labels[ok], profile)
    record = {
        "coded": {"root": str(coded_root), "faces": int(len(peaks)), "peaks": int(peaks.sum()),
                  "subjects": int(len(np.unique(subjects))), "found": int(coded.found.sum())},
        "reference": {"root": str(reference_root), "faces": int(len(labels)), "found": int(ok.sum()),
                      "neutral": int(neutral.sum())},
        "cross_validated": scores, "summary": summary(scores),
        **({} if photos is None else {"photos": {"tables": [str(t) for t, _ in tables], "photos": len(photos.codes.paths),
            "found": int(photos.faces.found.sum())}, "photos_cross_validated": photo_scores}),
        **({} if spans is None else {"intensity_codes": {"tables": [str(t) for t in intensity_codes], "photos": len(bands.paths),  # type: ignore[union-attr]
                                                          "spans": spans}}),
        "au_only_reference_accuracy": accuracy(au_only_probabilities(ref_aus, reference.blendshapes[ok], profile,
                                                                     n_level, temperature), labels[ok]),
    }
    info = _info(tables, None if photos is None else len(photos.codes.paths), intensity_codes, spans, record["summary"])
    calibration = replace(calibration, neutral_evidence=n_level, temperature=temperature, info=info)
    return calibration, record

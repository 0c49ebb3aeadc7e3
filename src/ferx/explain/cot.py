"""The chain of thought: from AU intensities and classifier probabilities to an `Explanation`.

Three sections, as in ExpLLM (Lan et al. 2024): key observations (each active AU, its intensity
band and the emotions it is evidence for), overall emotional interpretation (AU interactions, the
dominant and secondary emotions by AU evidence and what argues against them, whether the image
classifier agrees), and a conclusion (the label with its probability, with an explicit caveat when
the evidence is weak or contradictory).

The AU evidence is the prototype scoring of `ferx.expression.codebook.au_evidence` (the
`au-codebook` backend), recomputed here with arrays (`au_evidence_fast`, checked equal by a test),
so the explanation compares what the AUs alone say with whatever expression backend produced
`faces.expression`.

Honesty rules (issue 11): an AU graded "unreliable" (`facs.ActionUnit.reliability`, under the
profile of the estimator that measured it: `Faces.au_profile`) is never an
observation, never evidence, and never called absent — the text says it was not measured; absence
is stated only for AUs graded good or fair. The smile patterns and compound expressions need their
AUs at band B. The AU-only probabilities come from a softmax whose temperature was fitted on
held-apart data (log-loss), not a near-argmax. The interpretation argues from the evidence the
conclusion uses: when the classifier's label differs from the AU reading, one sentence says so and
names what each rests on, and the conclusion repeats it as a caveat.
"""

from __future__ import annotations

import functools
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ferx.facs import (
    ASYMMETRY_THRESHOLD,
    AU_BY_NUMBER,
    AU_CODES,
    COMPOUND_EXPRESSIONS,
    EMOTION_PROTOTYPES,
    EXPRESSIONS,
    INTERACTIONS,
    INTERACTIONS_BY_KEY,
    OCCURRENCE_THRESHOLD,
    PATTERN_MIN_INTENSITY,
    one_sidedness,
    au_index,
    ONE_SIDED_AUS,
    core_aus,
    EVIDENCE_TEMPERATURE,
    AUProfile,
    au_evidence,
    evidence_probabilities,
    profile_of,
    emotions_for_au,
    intensity_band,
)
from ferx.stages import EXPLAINERS, StageBase
from ferx.types import AUObservation, EmotionEvidence, Explanation, Faces
from ferx.explain.templates import load_templates

#: AU-evidence scoring (`facs.NEUTRAL_EVIDENCE`, `facs.EVIDENCE_TEMPERATURE`): chosen on data, see there.
TEMPERATURE: float = EVIDENCE_TEMPERATURE
#: Top-two AU-evidence probabilities closer than this are "ambiguous".
AMBIGUITY_MARGIN = 0.15
#: Classifier probability below which the conclusion says the classifier is not confident.
LOW_CONFIDENCE = 0.5

_NUMBER = {code: int(code[2:]) for code in AU_CODES}
# Looked up per face; computed once.
_EMOTIONS_FOR = {n: emotions_for_au(n) for n in _NUMBER.values()}
_CORE = {e: core_aus(e) for e in EXPRESSIONS}


@dataclass(frozen=True)
class _Grades:
    """What one estimator's grades allow the text to say, as per-face lookups.

    Attributes:
        measured: AU number → an observation and evidence at all (not graded unreliable).
        absence_ok: AU number → its absence may be stated (graded good or fair).
        unmeasured: per emotion, its defining AUs this estimator cannot measure.
        weak: per emotion, its defining AUs measured too weakly to call absent.
    """

    measured: dict[int, bool]
    absence_ok: dict[int, bool]
    unmeasured: dict[str, tuple[str, ...]]
    weak: dict[str, tuple[str, ...]]


@functools.lru_cache(maxsize=32)  # profiles are few and immutable (hashed by identity)
def _grades(profile: AUProfile) -> _Grades:
    units = {n: profile.by_number[n] for n in _NUMBER.values()}
    measured = {n: au.measured for n, au in units.items()}
    absence_ok = {n: au.absence_reliable for n, au in units.items()}
    return _Grades(
        measured, absence_ok,
        {e: tuple(f"AU{n}" for n in _CORE[e] if not measured[n]) for e in EXPRESSIONS},
        {e: tuple(f"AU{n}" for n in _CORE[e] if measured[n] and not absence_ok[n]) for e in EXPRESSIONS},
    )


def _full_aus(aus: np.ndarray, au_codes: Sequence[str]) -> np.ndarray:
    """(N, len(AU_CODES)) AU matrix in the table's order (AUs the estimator did not give are 0)."""
    if tuple(au_codes) == AU_CODES:
        return aus
    out = np.zeros((aus.shape[0], len(AU_CODES)), np.float32)
    for j, code in enumerate(au_codes):
        if code in AU_CODES:
            out[:, AU_CODES.index(code)] = aus[:, j]
    return out


#: The explainer's name for `facs.au_evidence` (kept for callers and tests of the explain module).
au_evidence_fast = au_evidence


class _Writer:
    """Picks template variants with a generator seeded from the face's measurements."""

    def __init__(self, templates: dict[str, Any], seed: int, key: bytes) -> None:
        self.t = templates
        self.rng = random.Random(zlib.crc32(key, seed & 0xFFFFFFFF))

    def pick(self, variants: list[str], **fields: Any) -> str:
        s = self.rng.choice(variants).format(**fields)
        return s[:1].upper() + s[1:]  # a sentence may start with a field ("{label} comes second")

    def be(self, items: Sequence[str]) -> str:
        return self.t["be"][len(items) > 1]

    def join(self, items: Sequence[str], word: str = "list_and") -> str:
        items = list(items)
        if len(items) <= 1:
            return "".join(items)
        return ", ".join(items[:-1]) + f" {self.t[word]} " + items[-1]


def _pct(p: float) -> str:
    return f"{100 * p:.0f}"


def explain_face(
    aus: np.ndarray,
    evidence: np.ndarray,
    au_probs: np.ndarray,
    asymmetry: dict[int, float],
    probs: np.ndarray | None = None,
    prob_labels: Sequence[str] = EXPRESSIONS,
    *,
    target: str | None = None,
    neutral_evidence: float | None = None,
    templates: dict[str, Any] | None = None,
    language: str = "en",
    seed: int = 0,
    profile: AUProfile | None = None,
) -> Explanation:
    """The chain of thought for one face.

    Args:
        aus: (K,) intensities 0–5 in `AU_CODES` order.
        evidence: (8,) AU evidence in `EXPRESSIONS` order (neutral column ignored: `neutral_evidence`).
        au_probs: (8,) softmax of the evidence (`evidence_probabilities`).
        asymmetry: AU number → |left − right| on the 0–5 scale, for `ONE_SIDED_AUS`.
        probs: (C,) classifier probabilities over `prob_labels`, or None without a classifier.
        target: a ground-truth label; when given the conclusion is this label (instruction data)
            and says so where the AU evidence disagrees.
        neutral_evidence: evidence level an emotion must exceed to beat neutral (default: the
            profile's).
        templates: template data (default: `load_templates(language)`).
        seed: varies the phrasing; the same face and seed always give the same text.
        profile: the AU estimator's grades and scoring (default `facs.MESH_PROFILE`).
    """
    profile = profile_of(profile)
    g = _grades(profile)
    if neutral_evidence is None:
        neutral_evidence = profile.neutral_evidence
    t = templates or load_templates(language)
    # Plain floats from here on: per-element numpy access costs more than the whole text.
    ev = [float(neutral_evidence)] + [float(v) for v in evidence[1:]]
    vals = [float(v) for v in aus]
    active, ranked, level, one_sided = _active_aus(vals, asymmetry, g)
    active_numbers = set(ranked)

    # 1. key observations: each active AU, strongest first
    observations = tuple(_observation(vals[j], AU_CODES[j], asymmetry, profile) for j in active)
    # 2. interpretation: known AU combinations, compound expressions, evidence per emotion
    patterns = _patterns(level, one_sided, g)
    compounds = _compounds(level)
    evidences = [_emotion_evidence(label, ev[k], float(au_probs[k]), ranked, active_numbers, one_sided, g)
                 for k, label in enumerate(EXPRESSIONS)]
    order = sorted(range(len(EXPRESSIONS)), key=lambda k: (-ev[k], k))
    evidences_sorted = tuple(evidences[k] for k in order)
    au_label = EXPRESSIONS[order[0]]
    second = evidences_sorted[1]
    au_secondary = second.label if (second.label != "neutral" and second.evidence > 0) else None
    classifier_label, classifier_p = _classifier_top(probs, prob_labels)
    agreement = None if classifier_label is None else classifier_label == au_label
    # 3. conclusion: the label, where it comes from, and what the reader should be told about it
    label, label_source, probability = _conclusion(
        target, classifier_label, classifier_p, probs, prob_labels, evidences, evidences_sorted
    )
    caveats = _caveats(label, label_source, probability, classifier_p, agreement, au_label, evidences,
                       evidences_sorted, neutral_evidence)

    partial = dict(
        observations=observations, patterns=patterns, compounds=compounds,
        evidence=evidences_sorted, au_label=au_label, au_secondary=au_secondary,
        classifier_label=classifier_label, classifier_probability=classifier_p, agreement=agreement,
        label=label, probability=probability, label_source=label_source, caveats=caveats,
    )
    key = (",".join(f"{v:.1f}" for v in vals) + label).encode()
    text = render(partial, t, _Writer(t, seed, key), g)
    unmeasured = g.unmeasured.get(label, ())
    notes = (f"{label}'s defining {', '.join(unmeasured)} not measured reliably (never reported as absent)",) if unmeasured else ()
    return Explanation(**partial, text=text, language=language, notes=notes)


def _active_aus(vals: list[float], asymmetry: dict[int, float], g: _Grades
                ) -> tuple[list[int], list[int], dict[int, float], set[int]]:
    """The columns of the active AUs (present, and measured: an unreliable AU's reading is evidence of
    nothing), strongest first; their numbers; their levels as reported (rounded, so that text and
    data agree); and the active one-sided AUs."""
    active = sorted((j for j, v in enumerate(vals) if v >= OCCURRENCE_THRESHOLD and g.measured[_NUMBER[AU_CODES[j]]]),
                    key=lambda j: -vals[j])
    ranked = [_NUMBER[AU_CODES[j]] for j in active]
    level = {n: round(vals[au_index(n)], 1) for n in ranked}
    one_sided = {n for n, a in asymmetry.items() if a >= ASYMMETRY_THRESHOLD and n in set(ranked)}
    return active, ranked, level, one_sided


def _observation(value: float, code: str, asymmetry: dict[int, float], profile: AUProfile) -> AUObservation:
    au = profile.by_number[_NUMBER[code]]
    value = round(value, 1)  # the band is that of the value reported, so text and data agree
    return AUObservation(
        code=au.code, name=au.name, intensity=value, band=str(intensity_band(max(value, OCCURRENCE_THRESHOLD))),
        region=au.region, evidence_for=_EMOTIONS_FOR[au.number],
        asymmetry=round(float(asymmetry.get(au.number, 0.0)), 1),
    )


def _patterns(level: dict[int, float], one_sided: set[int], g: _Grades) -> tuple[str, ...]:
    """Keys of the `facs.INTERACTIONS` found, minus those a larger pattern found too subsumes.

    Args:
        level: intensity of each active, measured AU (as reported).
    """
    found = []
    for inter in INTERACTIONS:
        strong = {n for n, v in level.items() if v >= inter.min_intensity}
        if inter.unilateral:
            hit = len(one_sided.intersection(inter.aus)) >= inter.min_active
        else:
            hit = (
                len(strong.intersection(inter.aus)) >= inter.min_active
                and (not inter.any_of or not strong.isdisjoint(inter.any_of))
                # an absence is claimed only where the estimate can tell (and any trace spoils it)
                and all(g.absence_ok[n] and n not in level for n in inter.absent)
            )
        if hit:
            found.append(inter)
    subsumed = {key for inter in found for key in inter.subsumes}
    return tuple(inter.key for inter in found if inter.key not in subsumed)


def _compounds(level: dict[int, float]) -> tuple[str, ...]:
    """The largest compound expressions (Du et al. 2014) whose AUs are all measured at band B or more."""
    strong = {n for n, v in level.items() if v >= PATTERN_MIN_INTENSITY}
    matched = [c for c in COMPOUND_EXPRESSIONS if strong.issuperset(c.aus)]
    most = max((len(c.aus) for c in matched), default=0)
    return tuple(c.name for c in matched if len(c.aus) == most)


def _emotion_evidence(label: str, evidence: float, probability: float, ranked: list[int], active: set[int],
                      one_sided: set[int], g: _Grades) -> EmotionEvidence:
    """What the active AUs say for and against one emotion. `missing` lists only defining AUs whose
    absence the estimator can vouch for (grade good or fair); the others are "not measured"."""
    proto = EMOTION_PROTOTYPES.get(label)
    if proto is None:  # neutral: every AU that is evidence for some emotion argues against it
        opposing = tuple(f"AU{n}" for n in ranked if _EMOTIONS_FOR[n])
        return EmotionEvidence(label, round(evidence, 3), round(probability, 3), (), opposing, ())
    pool = one_sided if proto.unilateral else active
    supporting = tuple(f"AU{n}" for n in ranked if n in proto.supports and n in pool)
    opposing = tuple(f"AU{n}" for n in ranked if n in proto.opposes)
    missing = tuple(f"AU{n}" for n in _CORE[label] if n not in pool and g.absence_ok[n])
    return EmotionEvidence(label, round(evidence, 3), round(probability, 3), supporting, opposing, missing)


def _classifier_top(probs: np.ndarray | None, prob_labels: Sequence[str]) -> tuple[str | None, float | None]:
    if probs is None or not np.isfinite(probs).all():
        return None, None
    c = int(np.argmax(probs))
    return str(prob_labels[c]), round(float(probs[c]), 3)


def _conclusion(
    target: str | None, classifier_label: str | None, classifier_p: float | None, probs: np.ndarray | None,
    prob_labels: Sequence[str], evidences: list[EmotionEvidence], evidences_sorted: tuple[EmotionEvidence, ...],
) -> tuple[str, str, float | None]:
    """(label, label_source, probability): the ground truth when given (instruction data), else the
    classifier's decision, else the AU evidence's."""
    if target is not None:
        if classifier_label is not None and target in prob_labels:
            return target, "ground-truth", round(float(probs[list(prob_labels).index(target)]), 3)  # type: ignore[index]
        p = evidences[EXPRESSIONS.index(target)].probability if target in EXPRESSIONS else None
        return target, "ground-truth", p
    if classifier_label is not None:
        return classifier_label, "classifier", classifier_p
    return evidences_sorted[0].label, "au-evidence", evidences_sorted[0].probability


def _caveats(
    label: str, label_source: str, probability: float | None, classifier_p: float | None, agreement: bool | None,
    au_label: str, evidences: list[EmotionEvidence], evidences_sorted: tuple[EmotionEvidence, ...],
    neutral_evidence: float,
) -> tuple[str, ...]:
    caveats = []
    label_ev = next((e for e in evidences if e.label == label), None)
    if label != "neutral" and (label_ev is None or label_ev.evidence <= neutral_evidence):
        caveats.append("weak_evidence")
    if label_source == "classifier" and classifier_p is not None and classifier_p < LOW_CONFIDENCE:
        caveats.append("low_confidence")
    if evidences_sorted[0].probability - evidences_sorted[1].probability < AMBIGUITY_MARGIN:
        caveats.append("ambiguous")
    if label_ev is not None and label != "neutral" and label_ev.opposing:
        caveats.append("opposing_aus")
    if agreement is False:
        caveats.append("disagreement")
    if label_source == "ground-truth" and label != au_label:
        caveats.append("label_differs_from_au")
    return tuple(caveats)


#: Caveats the conclusion states, in this order, at most `MAX_CAVEATS`: the disagreement with the AU
#: reading comes first (it is the one the reader must not miss), then what weakens the label.
CAVEAT_ORDER: tuple[str, ...] = ("disagreement", "label_differs_from_au", "low_confidence", "opposing_aus",
                                 "weak_evidence", "ambiguous")
MAX_CAVEATS = 2


def render(x: dict[str, Any], t: dict[str, Any], w: _Writer, g: _Grades | None = None) -> str:
    """The three-section text of an explanation's structured fields (`x`: Explanation fields).

    The interpretation states what the AUs show, then argues for the conclusion's label from the
    evidence it rests on. Where the conclusion's label is not the AU reading (the classifier or the
    dataset label says otherwise), one sentence says so and names what each rests on; the
    conclusion repeats it as its first caveat. `g`: the estimator's grades (default the mesh's).
    The sections are written in order, so the seeded wording picks the same variants as ever.
    """
    g = g or _grades(profile_of(None))
    observations = _observation_sentences(x, t, w)
    interpretation = _interpretation_sentences(x, t, w, g)
    conclusion = _conclusion_sentences(x, t, w)
    h = t["headings"]
    return (
        f"{h['observations']}: {' '.join(observations)}\n"
        f"{h['interpretation']}: {' '.join(interpretation)}\n"
        f"{h['conclusion']}: {' '.join(conclusion)}"
    )


def _observation_sentences(x: dict[str, Any], t: dict[str, Any], w: _Writer) -> list[str]:
    band_words = t["band_words"]
    out = []
    for o in x["observations"]:
        desc = AU_BY_NUMBER[int(o.code[2:])].description.split(" (")[0]
        if o.evidence_for:
            evidence = w.pick(t["observation_evidence"], emotions=w.join(o.evidence_for, "list_or"))
        else:
            evidence = w.pick(t["observation_no_emotion"])
        s = w.pick(
            t["observation"], code=o.code, name=o.name, band=o.band, value=f"{o.intensity:.1f}",
            band_word=band_words[o.band], description=desc, evidence=evidence,
        )
        if o.code in {f"AU{n}" for n in ONE_SIDED_AUS} and o.asymmetry >= ASYMMETRY_THRESHOLD:
            s += w.pick(t["observation_one_sided"], asymmetry=f"{o.asymmetry:.1f}")
        out.append(s)
    return out or [w.pick(t["no_observation"])]


def _interpretation_sentences(x: dict[str, Any], t: dict[str, Any], w: _Writer, g: _Grades) -> list[str]:
    label, au_label = x["label"], x["au_label"]
    top = x["evidence"][0]
    inter: list[str] = []
    active = set(o.code for o in x["observations"])
    for key in x["patterns"]:
        codes = [f"AU{n}" for n in INTERACTIONS_BY_KEY[key].aus if f"AU{n}" in active]
        inter.append(w.pick(t["patterns"][key], aus=w.join(codes), be=w.be(codes)))
    # What the AUs alone say.
    if top.label == "neutral":
        inter.append(w.pick(t["dominant_neutral"], score=f"{top.evidence:.2f}", percent=_pct(top.probability)))
    else:
        inter.append(w.pick(t["dominant"], label=top.label, score=f"{top.evidence:.2f}",
                            percent=_pct(top.probability), aus=w.join(top.supporting)))
    inter += _agreeing(x, t, w) if label == au_label else _departing(x, t, w, g)
    if label != "neutral":
        # Defining AUs the estimator cannot vouch for are named as such, never as absent.
        unmeasured = g.unmeasured[label]
        weak = [c for c in g.weak[label] if c not in active]
        if unmeasured:
            inter.append(w.pick(t["not_measured"], label=label, aus=w.join(unmeasured), be=w.be(unmeasured)))
        if weak:
            inter.append(w.pick(t["weakly_measured"], label=label, aus=w.join(weak), be=w.be(weak)))
    if x["compounds"]:
        inter.append(w.pick(t["compound"], names=w.join([f"'{n}'" for n in x["compounds"]], "list_or")))
    return inter


def _agreeing(x: dict[str, Any], t: dict[str, Any], w: _Writer) -> list[str]:
    """The conclusion is the AU reading: what argues against it, a close runner-up, the classifier."""
    top, evid = x["evidence"][0], {e.label: e for e in x["evidence"]}
    out: list[str] = []
    if top.label == "neutral" and top.opposing:
        out.append(w.pick(t["against_neutral"], aus=w.join(top.opposing), be=w.be(top.opposing)))
    elif top.label != "neutral":
        out.extend(_against(top, w, t))
    if x["au_secondary"] is not None:
        # the dominant and the secondary emotion, as ExpLLM's interpretation names them
        out.append(_secondary(evid[x["au_secondary"]], w, t))
    if x["classifier_label"] is not None:
        out.append(w.pick(t["classifier_agrees"], label=x["classifier_label"],
                          percent=_pct(x["classifier_probability"])))
    elif x["label_source"] == "au-evidence":
        out.append(w.pick(t["no_classifier"]))
    return out


def _departing(x: dict[str, Any], t: dict[str, Any], w: _Writer, g: _Grades) -> list[str]:
    """The conclusion departs from the AU reading: say so once, plainly, then argue the label's case."""
    label, au_label = x["label"], x["au_label"]
    top, evid = x["evidence"][0], {e.label: e for e in x["evidence"]}
    own = evid.get(label)
    out: list[str] = []
    if x["label_source"] == "classifier":
        out.append(w.pick(t["classifier_disagrees"], label=label, percent=_pct(x["classifier_probability"]),
                          au_label=au_label, au_percent=_pct(top.probability)))
    else:
        out.append(w.pick(t["label_disagrees"], label=label, au_label=au_label))
    if x["au_secondary"] not in (None, label):
        out.append(_secondary(evid[x["au_secondary"]], w, t))
    if own is not None and label != "neutral":
        if own.supporting:
            out.append(w.pick(t["label_support"], label=label, aus=w.join(own.supporting)))
        elif not g.unmeasured[label]:
            out.append(w.pick(t["label_no_support"], label=label))
        out.extend(_against(own, w, t))
    elif label == "neutral" and top.supporting:
        out.append(w.pick(t["neutral_despite"], aus=w.join(top.supporting), be=w.be(top.supporting)))
    return out


def _conclusion_sentences(x: dict[str, Any], t: dict[str, Any], w: _Writer) -> list[str]:
    label = x["label"]
    if x["label_source"] == "ground-truth":
        concl = [w.pick(t["conclusion_ground_truth"], label=label)]
    else:
        concl = [w.pick(t["conclusion"], label=label, percent=_pct(x["probability"]))]
    stated = [c for c in CAVEAT_ORDER if c in x["caveats"]]
    if "disagreement" in stated or "label_differs_from_au" in stated:
        stated = [c for c in stated if c not in ("weak_evidence", "ambiguous")]  # already said by the caveat
    for c in stated[:MAX_CAVEATS]:
        if c == "low_confidence":
            concl.append(w.pick(t["caveats"][c], percent=_pct(x["probability"])))
        elif c in ("label_differs_from_au", "disagreement"):
            concl.append(w.pick(t["caveats"][c], au_label=x["au_label"]))
        else:
            concl.append(w.pick(t["caveats"][c]))
    return concl


def _secondary(sec: EmotionEvidence, w: _Writer, t: dict[str, Any]) -> str:
    support = w.pick(t["secondary_support"], aus=w.join(sec.supporting)) if sec.supporting else ""
    return w.pick(t["secondary"], label=sec.label, score=f"{sec.evidence:.2f}", percent=_pct(sec.probability),
                  support=support)


def _against(e: EmotionEvidence, w: _Writer, t: dict[str, Any]) -> list[str]:
    out = []
    if e.opposing:
        out.append(w.pick(t["against_opposing"], label=e.label, aus=w.join(e.opposing), be=w.be(e.opposing)))
    if e.missing:
        out.append(w.pick(t["against_missing"], label=e.label, aus=w.join(e.missing), be=w.be(e.missing)))
    return out


def explain_faces(
    faces: Faces,
    *,
    targets: Sequence[str | None] | None = None,
    neutral_evidence: float | None = None,
    temperature: float | None = None,
    language: str = "en",
    seed: int = 0,
) -> tuple[Explanation | None, ...]:
    """One explanation per face (None where the face has no finite AUs).

    Args:
        faces: faces with `aus` (and ideally `blendshapes` for contempt, `expression`).
        targets: optional ground-truth label per face (instruction data).
        neutral_evidence, temperature: the AU-evidence scoring; None takes the AU estimator's
            (`faces.grading`), chosen on validation data for it.
    Raises:
        ValueError: the faces have no AUs.
    """
    if faces.aus is None:
        raise ValueError("explanations need AU intensities: run an AU estimator stage first")
    templates = load_templates(language)
    aus = _full_aus(faces.aus, faces.au_codes)
    finite = np.isfinite(aus).all(axis=1)
    clean = np.nan_to_num(aus, nan=0.0)
    asym = None if faces.blendshapes is None else one_sidedness(clean, faces.blendshapes)
    profile = faces.grading
    neutral_evidence = profile.neutral_evidence if neutral_evidence is None else neutral_evidence
    temperature = profile.temperature if temperature is None else temperature
    evidence = au_evidence_fast(clean, asym, profile)
    au_probs = evidence_probabilities(evidence, neutral_evidence, temperature)
    out: list[Explanation | None] = []
    for i in range(len(faces)):
        if not finite[i]:
            out.append(None)
            continue
        probs = None if faces.expression is None else faces.expression[i]
        out.append(
            explain_face(
                aus[i], evidence[i], au_probs[i],
                {} if asym is None else dict(zip(ONE_SIDED_AUS, asym[i].tolist())), probs,
                faces.expression_labels, target=None if targets is None else targets[i],
                neutral_evidence=neutral_evidence, templates=templates, language=language, seed=seed,
                profile=profile,
            )
        )
    return tuple(out)


@EXPLAINERS.register("cot")
class ChainOfThoughtExplainer(StageBase):
    """Adds an `Explanation` per face (`faces.explanations`); optional LLM phrasing.

    Args:
        language: template language code (see `ferx.explain.templates.languages()`).
        seed: varies the phrasing reproducibly.
        neutral_evidence, temperature: the AU-evidence scoring; None (default) takes the AU
            estimator's, chosen on validation data for it (`facs.AUProfile`).
        llm_url: an OpenAI-compatible chat endpoint to rephrase explanations; None (default) keeps
            the template text. Replies that fail the faithfulness check are discarded.
        llm_model: model name sent to the endpoint.
        llm_timeout: seconds per request.
    """

    needs = frozenset({"aus"})
    provides = frozenset({"explanations"})

    def __init__(
        self,
        language: str = "en",
        seed: int = 0,
        neutral_evidence: float | None = None,
        temperature: float | None = None,
        llm_url: str | None = None,
        llm_model: str = "default",
        llm_timeout: float = 30.0,
    ) -> None:
        if temperature is not None and temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        load_templates(language)  # unknown language: fail at construction, not on the first face
        self.language, self.seed = language, int(seed)
        self.neutral_evidence = None if neutral_evidence is None else float(neutral_evidence)
        self.temperature = None if temperature is None else float(temperature)
        self.rewriter = None
        if llm_url:
            from ferx.explain.llm import LLMRewriter

            self.rewriter = LLMRewriter(llm_url, model=llm_model, timeout=llm_timeout, language=language)

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        if faces.aus is None:
            return faces  # nothing measured to explain (the AU stage is switched off)
        expl = explain_faces(
            faces, neutral_evidence=self.neutral_evidence, temperature=self.temperature,
            language=self.language, seed=self.seed,
        )
        if self.rewriter is not None:
            expl = tuple(None if e is None else self.rewriter.rewrite(e) for e in expl)
        return faces.with_fields(explanations=expl)

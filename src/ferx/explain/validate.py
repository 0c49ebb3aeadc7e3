"""Faithfulness check: does a text say only what the structured explanation measured?

Used on every template text in the tests and the data engine, and on every LLM reply (an
unfaithful reply is discarded). Checks, sentence by sentence:

- an AU named (by code, "AU 12" or "AU12", or by FACS name) must be active, unless the sentence
  states an absence ("absent", "without", ...);
- a sentence that states an absence may not name an AU that is present;
- an intensity statement — "intensity C", a value in brackets "(3.2", or a FACS band word
  ("marked"; one band off is tolerated, for rephrased text) — must match the measurement (±0.5) of
  the AU named nearest to it in the sentence;
- an emotion is given one probability in the whole text (the decision's), never two;
- the conclusion section must exist, the first emotion it names must be the explanation's label,
  and a percentage in it, if any, must be the label's probability (±1 point).

The checks read the language's template data (emotion words, band words, negation cues,
headings), so they work for any language that has templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ferx.facs import AU_BY_NUMBER, BANDS, AUProfile, profile_of
from ferx.types import Explanation
from ferx.explain.templates import load_templates

_AU = re.compile(r"\bAU\s?(\d{1,2})\b", re.IGNORECASE)
_BAND = re.compile(r"\b(?:intensity|band|level)\s+([A-E])\b")
_VALUE = re.compile(r"\((\d(?:\.\d+)?)\b")
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s?%")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Issue:
    """One unfaithful statement: `kind` is "inactive_au", "unknown_au", "absent_but_present",
    "intensity", "two_probabilities", "conclusion" or "structure" (and, from `reasoning_issues`,
    "silent_disagreement" or "absent_unreliable")."""

    kind: str
    message: str


@dataclass(frozen=True)
class ValidationResult:
    ok: bool
    issues: tuple[Issue, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        return "; ".join(i.message for i in self.issues) or "faithful"


def validate(text: str, explanation: Explanation, *, templates: dict[str, Any] | None = None) -> ValidationResult:
    """Check `text` against `explanation` (whose own `text` is ignored).

    Args:
        text: an explanation in prose (template output or an LLM reply).
        explanation: the structured explanation the text must agree with.
        templates: language data (default: that of `explanation.language`).
    """
    t = templates or load_templates(explanation.language)
    issues: list[Issue] = []
    measured = {o.code.upper(): o for o in explanation.observations}
    names = {au.name.lower(): au.code for au in AU_BY_NUMBER.values()}
    band_of_word = {w.lower(): b for b, w in t["band_words"].items()}
    negations = [c.lower() for c in t["negation_cues"]]

    for sentence in (s.strip() for s in _SENTENCE.split(text)):
        if not sentence:
            continue
        low = sentence.lower()
        negated = any(c in low + " " for c in negations)
        mentions = [(m.start(), m.end(), f"AU{int(m.group(1))}") for m in _AU.finditer(sentence)]
        for name, code in names.items():
            for m in re.finditer(r"\b" + re.escape(name) + r"\b", low):
                if not any(s <= m.start() < e + 40 for s, e, _ in mentions):  # name right after its code
                    mentions.append((m.start(), m.end(), code))
        mentions.sort()
        absence = any(re.search(r"\b" + c + r"\b", low) for c in ABSENCE_CUES)
        for start, end, code in mentions:
            if int(code[2:]) not in AU_BY_NUMBER:
                issues.append(Issue("unknown_au", f"{code} is not an AU ferx measures: {sentence!r}"))
            elif code not in measured and not negated:
                issues.append(Issue("inactive_au", f"{code} is mentioned but not active: {sentence!r}"))
            elif code in measured and absence:
                issues.append(Issue("absent_but_present", f"{code} is present, the sentence calls it absent: {sentence!r}"))
        if not mentions:
            continue
        # Each intensity statement belongs to the AU named nearest to it in the sentence (templates
        # put it before or after the code: "At intensity E (4.8), AU12 ..." / "AU12 at intensity E").
        cues = [(m.start(), "band", m.group(1)) for m in _BAND.finditer(sentence)]
        cues += [(m.start(), "value", m.group(1)) for m in _VALUE.finditer(sentence)]
        for word, band in band_of_word.items():
            cues += [(m.start(), "word", word) for m in re.finditer(r"\b" + re.escape(word) + r"\b", low)]
        for pos, kind, said in cues:
            _, _, code = min(mentions, key=lambda m: 0 if m[0] <= pos < m[1] else min(abs(pos - m[0]), abs(pos - m[1])))
            obs = measured.get(code)
            if obs is None:
                continue
            if kind == "band" and said != obs.band:
                issues.append(Issue("intensity", f"{code} is at band {obs.band}, the text says {said}"))
            elif kind == "value" and abs(float(said) - obs.intensity) > 0.5:
                issues.append(Issue("intensity", f"{code} is at {obs.intensity:.1f}, the text says {said}"))
            elif kind == "word" and abs(BANDS.index(band_of_word[said]) - BANDS.index(obs.band)) > 1:
                issues.append(Issue("intensity", f"{code} is at band {obs.band}, the text calls it {said!r}"))

    issues.extend(_check_probabilities(text, t))
    issues.extend(_check_conclusion(text, explanation, t))
    return ValidationResult(not issues, tuple(issues))


def _check_probabilities(text: str, t: dict[str, Any]) -> list[Issue]:
    """An emotion named with a percentage right after it, "sadness (33%)", has one probability in
    the whole text."""
    said: dict[str, set[str]] = {}
    low = text.lower()
    for label, words in t["emotion_words"].items():
        for word in words:
            for m in re.finditer(r"\b" + re.escape(word.lower()) + r"\s*\((\d{1,3})\s?%", low):
                said.setdefault(label, set()).add(m.group(1))
    return [Issue("two_probabilities", f"{label} is given {' and '.join(sorted(p))} %") for label, p in said.items() if len(p) > 1]


def _check_conclusion(text: str, explanation: Explanation, t: dict[str, Any]) -> list[Issue]:
    heading = t["headings"]["conclusion"].lower()
    low = text.lower()
    at = low.rfind(heading)
    if at < 0:
        return [Issue("structure", f"no {t['headings']['conclusion']!r} section")]
    conclusion = low[at + len(heading):]
    first: tuple[int, str] | None = None
    for label, words in t["emotion_words"].items():
        for word in words:
            m = re.search(r"\b" + re.escape(word.lower()) + r"\b", conclusion)
            if m and (first is None or m.start() < first[0]):
                first = (m.start(), label)
    if first is None:
        return [Issue("conclusion", f"the conclusion names no expression (expected {explanation.label})")]
    issues = []
    if first[1] != explanation.label:
        issues.append(Issue("conclusion", f"the conclusion says {first[1]}, the label is {explanation.label}"))
    # The first percentage of the conclusion is the label's probability; a runner-up may follow it
    # ("uncertain between anger (48%) and disgust (41%)").
    head = _SENTENCE.split(conclusion.strip(": \n"), maxsplit=1)[0]
    for m in list(_PERCENT.finditer(head))[:1]:
        if explanation.probability is None or abs(float(m.group(1)) - 100 * explanation.probability) > 1.0:
            issues.append(Issue("conclusion", f"the conclusion gives {m.group(1)}%, the probability is "
                                              f"{'unknown' if explanation.probability is None else f'{100 * explanation.probability:.0f}%'}"))
    return issues


#: Words that make a sentence claim that an AU is absent (a subset of the negation cues: "not
#: measured" is no claim of absence).
ABSENCE_CUES: tuple[str, ...] = ("absent", "missing", "lacks", "without", "no")


def reasoning_issues(text: str, explanation: Explanation, *, templates: dict[str, Any] | None = None,
                     profile: AUProfile | None = None) -> tuple[Issue, ...]:
    """Does the reasoning lead to its conclusion, and does it claim only absences it can see?

    - "silent_disagreement": the conclusion's label is not what the AU evidence favours, and the
      interpretation does not say so (it must name both readings).
    - "absent_unreliable": a sentence says an AU is absent ("absent", "missing", "lacks", "without")
      although its estimate is graded below fair or often missed on coded photos
      (`facs.ActionUnit.absence_reliable`) under
      `profile`, the grades of the AU estimator that measured the face (default the mesh's).

    English cue words; the emotion words come from the language's templates.
    """
    t = templates or load_templates(explanation.language)
    graded = profile_of(profile)
    issues: list[Issue] = []
    low = text.lower()
    heads = [t["headings"][k].lower() for k in ("interpretation", "conclusion")]
    i_at, c_at = low.find(heads[0]), low.rfind(heads[1])
    interpretation = low[i_at:c_at]

    def names(section: str, label: str) -> list[int]:
        return sorted(m.start() for w in t["emotion_words"][label]
                      for m in re.finditer(r"\b" + re.escape(w.lower()) + r"\b", section))

    if explanation.label != explanation.au_label:
        # the interpretation names both readings (once); the conclusion need not repeat it
        # an AU reading of "neutral" over clear movements is said as "no single emotion" (templates'
        # "no_emotion_phrases"): that names it as plainly as the word would
        au_side = names(interpretation, explanation.au_label) or (explanation.au_label == "neutral" and any(
            p.lower() in interpretation for p in t.get("no_emotion_phrases", ())))
        if not (au_side and names(interpretation, explanation.label)):
            issues.append(Issue("silent_disagreement", f"the AUs favour {explanation.au_label}, the conclusion says "
                                                       f"{explanation.label} without saying so plainly"))
    for sentence in (s.strip() for s in _SENTENCE.split(text)):
        sl = sentence.lower()
        if not any(re.search(r"\b" + c + r"\b", sl) for c in ABSENCE_CUES):
            continue
        for m in _AU.finditer(sentence):
            au = graded.unit(int(m.group(1)))
            if au is not None and not au.absence_reliable and au.code not in explanation.active_codes:
                issues.append(Issue("absent_unreliable", f"{au.code} ({au.reliability}) called absent: {sentence!r}"))
    return tuple(issues)

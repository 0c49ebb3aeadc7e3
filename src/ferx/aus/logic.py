"""Facial logic: AU readings that cannot co-exist are resolved before anyone reads them.

Each AU is read on its own (`ferx.aus.calibrated`), so two readings can contradict each other:
lips pressed together (AU24) while the lips are apart (AU25), a jaw stretched wide open (AU27) on
closed lips. FACS coding rules say which combinations a coder never scores; here they are applied to
the 0–5 intensities, whose scale is the same for every AU (1.0 = the occurrence threshold chosen on
FACS-coded faces, 2.5 = the median coded occurrence), so "which reading is surer" is the larger
distance from 1.0.

A reading that loses is set just below the occurrence threshold (`RESOLVED`), never to 0: it is no
longer present, and it is not a confident absence either. Observed on the coded faces of
`ckplus-facs`: AU24 never comes with AU25, AU26 and AU27 never without AU25, and coders scored AU26
or AU27, never both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ferx.facs import AU_CODES, OCCURRENCE_THRESHOLD

#: Where a reading that lost a conflict is set: below the occurrence threshold, above "clearly absent".
RESOLVED: float = OCCURRENCE_THRESHOLD - 0.1


@dataclass(frozen=True)
class Rule:
    """One FACS co-occurrence rule between AUs `a` and `b`.

    kind:
        "excludes": a and b are not scored together; the less sure reading is resolved.
        "supersedes": where a is present, b is not scored (FACS scores AU27, not AU26, for the jaw).
        "requires": a implies b; where a is present without b, either a is resolved or b is raised
            to the threshold, whichever reading is less sure.
    """

    kind: str
    a: int
    b: int
    why: str


RULES: tuple[Rule, ...] = (
    Rule("supersedes", 27, 26, "the jaw is scored once: mouth stretch (AU27) or jaw drop (AU26)"),
    Rule("excludes", 24, 25, "lips pressed together are not apart"),
    Rule("requires", 27, 25, "a mouth stretched open has its lips apart"),
    Rule("requires", 26, 25, "a dropped jaw is read from the parted lips it opens"),
    Rule("excludes", 43, 5, "closed eyes have no raised upper lid"),
)


def _group(number: int) -> tuple[int, ...]:
    """`number` and the AUs that require it: evidence for one is evidence for the others (a wide-open
    jaw is evidence of parted lips), and where it is resolved they go too. Why the rules need no second
    pass: an exclusion settles the whole group before the requirements run, so raising AU25 for a
    jaw can never re-open a conflict with AU24."""
    return (number, *(r.a for r in RULES if r.kind == "requires" and r.b == number))


def resolve(aus: np.ndarray, codes: tuple[str, ...] = AU_CODES) -> np.ndarray:
    """(N, K) intensities with the readings that break `RULES` resolved (a copy; NaN rows stay NaN).

    Args:
        aus: (N, K) intensities on the 0–5 scale, columns `codes`.
        codes: the AU code of each column; rules about AUs not in it are skipped.
    """
    out = np.array(aus, np.float32, copy=True)
    col = {c: j for j, c in enumerate(codes)}
    for rule in RULES:
        ja, jb = col.get(f"AU{rule.a}"), col.get(f"AU{rule.b}")
        if ja is None or jb is None:
            continue
        a, b = out[:, ja].copy(), out[:, jb].copy()
        with np.errstate(invalid="ignore"):
            on_a, on_b = a >= OCCURRENCE_THRESHOLD, b >= OCCURRENCE_THRESHOLD
            if rule.kind == "supersedes":
                out[:, jb] = np.where(on_a & on_b, np.minimum(b, RESOLVED), b)
            elif rule.kind == "excludes":
                ga = [col[f"AU{n}"] for n in _group(rule.a) if f"AU{n}" in col]
                gb = [col[f"AU{n}"] for n in _group(rule.b) if f"AU{n}" in col]
                sa, sb = out[:, ga].max(axis=1), out[:, gb].max(axis=1)
                both = (sa >= OCCURRENCE_THRESHOLD) & (sb >= OCCURRENCE_THRESHOLD)
                a_wins = sa >= sb  # the surer side stays, with everything that implies it
                for j in ga:
                    out[:, j] = np.where(both & ~a_wins, np.minimum(out[:, j], RESOLVED), out[:, j])
                for j in gb:
                    out[:, j] = np.where(both & a_wins, np.minimum(out[:, j], RESOLVED), out[:, j])
            else:  # requires
                broken = on_a & ~on_b
                a_wins = (a - OCCURRENCE_THRESHOLD) > (OCCURRENCE_THRESHOLD - b)
                out[:, ja] = np.where(broken & ~a_wins, RESOLVED, a)
                out[:, jb] = np.where(broken & a_wins, np.float32(OCCURRENCE_THRESHOLD), b)
    return out


def violations(aus: np.ndarray, codes: tuple[str, ...] = AU_CODES) -> list[tuple[int, Rule]]:
    """(face row, rule) for every rule a row breaks: empty after `resolve`."""
    col = {c: j for j, c in enumerate(codes)}
    found = []
    for rule in RULES:
        ja, jb = col.get(f"AU{rule.a}"), col.get(f"AU{rule.b}")
        if ja is None or jb is None:
            continue
        with np.errstate(invalid="ignore"):
            on_a, on_b = aus[:, ja] >= OCCURRENCE_THRESHOLD, aus[:, jb] >= OCCURRENCE_THRESHOLD
        bad = (on_a & ~on_b) if rule.kind == "requires" else (on_a & on_b)
        found += [(int(i), rule) for i in np.flatnonzero(bad)]
    return found

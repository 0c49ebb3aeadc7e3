import pytest

from ferx.explain.cot import explain_faces
from ferx.explain.validate import validate
from tests.explain.conftest import make_face


@pytest.fixture(scope="module")
def smile():
    """AU12 at E (4.8), AU6 at D (3.5), AU25 at B (2.0); classifier: happiness 90 % (the decision rule
    weighs the classifier alone here, so the conclusion is 90 %)."""
    (e,) = explain_faces(make_face({6: 3.5, 12: 4.8, 25: 2.0}, {"happiness": 0.9, "neutral": 0.1}), au_weight=0.0)
    return e


def kinds(text, e):
    return [i.kind for i in validate(text, e).issues]


def test_template_text_is_faithful(smile):
    assert validate(smile.text, smile).ok


@pytest.mark.parametrize(
    "planted, kind",
    [
        ("AU9 (Nose Wrinkler) wrinkles the nose.", "inactive_au"),  # not active
        ("The Nose Wrinkler is clearly visible.", "inactive_au"),  # by FACS name only
        ("AU 4 lowers the brows.", "inactive_au"),  # spelled with a space
        ("AU12 is at intensity A (4.8).", "intensity"),  # wrong band letter
        ("AU12 is active at intensity E (1.2).", "intensity"),  # wrong value
        ("There is only a trace of AU12.", "intensity"),  # band word far from E
        ("AU99 is raised.", "unknown_au"),
        ("There is no lip-corner pull (AU12).", "absent_but_present"),  # AU12 is present
        ("Happiness (40%) is one reading.", "two_probabilities"),  # the conclusion gives it 90 %
    ],
)
def test_planted_contradictions_are_caught(smile, planted, kind):
    observations, rest = smile.text.split("\n", 1)
    text = observations + " " + planted + "\n" + rest
    assert kind in kinds(text, smile)


def test_absence_statements_may_name_inactive_aus(smile):
    observations, rest = smile.text.split("\n", 1)
    text = observations + " AU15 and AU4 are absent, and there is no Brow Lowerer.\n" + rest
    assert validate(text, smile).ok


def test_conclusion_must_state_the_label_and_its_probability(smile):
    body = smile.text.split("Conclusion:")[0]
    assert kinds(body + "Conclusion: The expression is surprise (90%).", smile) == ["conclusion"]
    assert kinds(body + "Conclusion: The expression is happiness (60%).", smile) == ["conclusion"]
    assert kinds(body + "Conclusion: The face looks cheerful.", smile) == ["conclusion"]
    assert kinds(body, smile) == ["structure"]
    # Other labels may be named after the label itself (caveats, the AU evidence's reading).
    assert validate(body + "Conclusion: Happy (90%), although surprise was considered.", smile).ok

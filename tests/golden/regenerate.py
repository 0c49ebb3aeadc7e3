"""Write the golden fixtures from the current code: `python tests/golden/regenerate.py [CASE...]`.

Run it only when outputs change on purpose, and commit the fixture change with the reason.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.golden.cases import CASES, run_case, workdir_for, write_fixture  # noqa: E402


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ferx-golden-") as tmp:
        for name in names or list(CASES):
            files = run_case(CASES[name], workdir_for(Path(tmp)))
            write_fixture(name, files)
            print(f"{name}: {len(files)} file(s) written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`python -m ferx.serve [--host --port --workers ...]`, the same as `ferx serve`."""

from __future__ import annotations

import sys

from ferx.serve.cli import main

sys.exit(main())

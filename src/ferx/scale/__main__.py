"""`python -m ferx.scale INPUT OUTPUT [...]`: `ferx batch` without going through `ferx.cli`."""

import sys

from ferx.scale.cli import main

sys.exit(main())

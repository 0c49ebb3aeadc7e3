"""`python -m ferx.onepass.data boxes|generate CONFIG`: the same as `python -m ferx.train.onepass.data`."""

import sys

from ferx.train.onepass.data.__main__ import main

sys.exit(main())

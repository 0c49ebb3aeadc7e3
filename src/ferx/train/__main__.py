import sys

from ferx.train.loop import main

sys.exit(main())

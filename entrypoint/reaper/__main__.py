"""``python -m reaper``: the reaper command."""

import sys

from reaper._command import main

sys.exit(main())

"""``python -m harness.cli``: the same as the ``realtime-mock`` console script."""

import sys

from harness.cli import main

sys.exit(main())

"""``python -m harness.cli``: the same as the ``realtime-mock`` console script."""

import sys

from harness.cli import main

if __name__ == "__main__":  # not when a tool walks the package and imports every module
    sys.exit(main())

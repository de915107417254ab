"""``python -m activecv``: the same as the ``activecv`` command."""

import sys

from activecv.cli import main

if __name__ == "__main__":
    sys.exit(main())

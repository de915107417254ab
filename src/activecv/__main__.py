import sys

from activecv.cli import main

sys.exit(main())

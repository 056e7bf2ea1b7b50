"""``python -m qsm``: see :mod:`qsm.cli`."""

import sys

from .cli import main

sys.exit(main())

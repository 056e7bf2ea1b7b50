"""``python -m recon.qsm``: see :mod:`recon.qsm.cli`."""

import sys

from .cli import main

sys.exit(main())

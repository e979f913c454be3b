"""``python -m primus`` is ``primus-cli``."""

import sys

from primus.cli import main

sys.exit(main())

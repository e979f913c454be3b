# PYTHON_ARGCOMPLETE_OK  (argcomplete looks for this marker in the first lines of the entry point)
"""``python -m primus.cli`` is ``primus-cli``."""

import sys

from primus.cli import main

sys.exit(main())

"""``python -m roi.cli``: the ``roi`` command."""

import sys

from roi.cli.root import main

sys.exit(main())

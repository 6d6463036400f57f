"""``python -m tunegym.cli``: the ``tunegym`` command."""

import sys

from tunegym.cli import main

sys.exit(main())

"""``python -m metarouter_econml.cli``: the ``metarouter`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())

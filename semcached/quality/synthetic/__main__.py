"""``python -m semcached.quality.synthetic``: see :func:`semcached.quality.synthetic.cli.main`."""

from __future__ import annotations

import sys

from semcached.quality.synthetic.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m stepcache.cli``: the same as the ``stepcache`` command."""

from . import main

raise SystemExit(main())

"""``python -m workspace_billing demo``."""

from .cli import main

raise SystemExit(main())

"""`python -m tui.cli`: the `surge` command without an installed entry point."""

import sys

from tui.cli.main import main

sys.exit(main())

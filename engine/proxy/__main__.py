"""`python -m engine.proxy`: the same flags as `surge proxy`."""

import sys

from engine.proxy.server import main

sys.exit(main())

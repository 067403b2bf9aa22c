"""`python -m engine.sut`: the same flags as `surge sut`."""

import sys

from engine.sut.server import main

sys.exit(main())

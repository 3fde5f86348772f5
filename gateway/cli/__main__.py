"""`python -m gateway.cli`: the same as the `ptc-gateway` script."""

import sys

from gateway.cli import main

sys.exit(main())

"""`python -m vlgen` = the `vlgen` command (what workflow jobs call: it needs no console script)."""

import sys

from vlgen.cli import main

sys.exit(main())

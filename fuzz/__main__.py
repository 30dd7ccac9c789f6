"""`python -m fuzz`: the fuzzing command (see fuzz/cli.py and docs/security.md)."""

import sys

from fuzz.cli import main

sys.exit(main())

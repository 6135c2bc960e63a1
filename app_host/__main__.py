"""`python -m app_host ...` and the zipapp's entry point."""

import sys

from .cli import main

sys.exit(main())

"""``python -m shenjing ...``: the same as the ``shenjing`` command."""
import sys

from .cli import main

sys.exit(main())

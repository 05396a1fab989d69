"""`python -m nightwatch_cli`: the `nightwatch` command."""
import sys

from nightwatch_cli import main

sys.exit(main())

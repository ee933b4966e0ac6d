"""`python -m upscaler` runs the command line."""

import sys

from upscaler.cli.main import main

sys.exit(main())

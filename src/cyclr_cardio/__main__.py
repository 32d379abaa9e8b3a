import sys

from cyclr_cardio.cli import main

sys.exit(main())

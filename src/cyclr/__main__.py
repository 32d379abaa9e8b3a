import sys

from cyclr.cli import main

sys.exit(main())

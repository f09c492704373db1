import sys

from apigrade.cli import main

sys.exit(main())

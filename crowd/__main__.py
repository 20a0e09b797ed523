import sys

from crowd.cli import main

sys.exit(main())

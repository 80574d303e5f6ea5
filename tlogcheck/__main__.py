import sys

from tlogcheck.cli import main

sys.exit(main())

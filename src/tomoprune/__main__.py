import sys

from tomoprune.cli import main

sys.exit(main())

"""``python -m batchverify.simulator``: the simulator in the foreground."""

import sys

from batchverify.simulator.app import main

sys.exit(main())

"""Settings every test process needs before Ray is imported."""

import os

# The integration tests run several Ray nodes on this one host, each on 127.0.0.1. Ray
# reads this at import and otherwise swaps 127.0.0.1 for the host's address in some
# places and not others, and the nodes never find each other.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

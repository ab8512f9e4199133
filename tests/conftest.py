"""Settings every test process needs before Ray is imported, and the ``integration`` marker."""

import os
from pathlib import Path

import pytest

# The integration tests run several Ray nodes on this one host, each on 127.0.0.1. Ray
# reads this at import and otherwise swaps 127.0.0.1 for the host's address in some
# places and not others, and the nodes never find each other.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


_INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(config, items):
    """Everything under tests/integration needs the session's Ray cluster: mark it, so
    that ``-m "not integration"`` leaves it out. (A ``pytestmark`` in a conftest marks
    nothing: pytest reads ``pytestmark`` from test modules only.)"""
    for item in items:
        if _INTEGRATION in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)

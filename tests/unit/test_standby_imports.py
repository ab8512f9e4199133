"""A standby's cold start must not pay for importing Ray Serve (seconds on a busy node).

The adoption path (the standby runtime, the replica it builds, the log capture it
installs) is imported in a fresh interpreter and must leave ``ray.serve`` unloaded.
"""

import subprocess
import sys

ADOPTION_PATH = (
    "serverless_ray.runtime.standby",
    "serverless_ray.runtime.replica",
    "serverless_ray.logs.shipping",
    "serverless_ray.logs.capture",
)


def test_the_adoption_path_does_not_import_serve():
    program = "\n".join([
        "import sys",
        *(f"import {module}" for module in ADOPTION_PATH),
        "from serverless_ray.logs import shipping",
        "try:",
        "    shipping.replica_id()  # outside a Ray worker it has no actor id; only the imports matter",
        "except Exception:",
        "    pass",
        "print('ray.serve' in sys.modules)",
    ])
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

"""``python -m serverless_ray.cli``: the same as the ``serverless-ray`` command."""

import sys

from serverless_ray.cli import main

sys.exit(main())

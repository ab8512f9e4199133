"""The Python environments that replicas of a framework or a model's ``requirements.txt``
run in.

Ray's own ``pip`` runtime environment copies the whole virtualenv the cluster runs from
before it installs anything (1.2 GB here, about 25 s per environment and node). A
*layered* environment instead is an empty virtualenv whose ``site-packages`` lists the
platform's own after its own: what pip installs into it wins, everything else (Ray,
Serve, this package) is the platform's, unchanged and uncopied. It is built by
:class:`~.layered_pip.LayeredPipPlugin`, a Ray runtime environment plugin that runs in
each node's runtime environment agent: once per node and set of requirements, under a
file lock, and reused by every later replica and standby on the node, across Ray
sessions.

* :func:`runtime_env` is the runtime environment to give a replica or task for a list of
  requirements: the layered one where the plugin is registered, else Ray's ``pip``.
* :func:`register` registers the plugin in an environment that Ray's processes are about
  to inherit (``RAY_RUNTIME_ENV_PLUGINS``), which is how :func:`serverless_ray.platform`
  starts its embedded cluster; ``ray start`` on a cluster gets the same variable from
  :data:`PLUGIN_CONFIG` (see ``docs/frameworks.md``).

Nothing here imports Ray.
"""

from __future__ import annotations

import json
import os
from typing import Any, MutableMapping, Sequence

#: The runtime environment field that :class:`~.layered_pip.LayeredPipPlugin` serves.
FIELD = "layered_pip"
#: Where Ray's runtime environment agents look for plugins (read when they start).
PLUGINS_VARIABLE = "RAY_RUNTIME_ENV_PLUGINS"
#: The directory that holds a node's layered environments; each is named by the hash of
#: what it installs and what it is layered on.
DIRECTORY_VARIABLE = "SERVERLESS_RAY_ENVIRONMENTS"
DEFAULT_DIRECTORY = "/tmp/serverless-ray/environments"
#: The plugin's entry in ``RAY_RUNTIME_ENV_PLUGINS``. The priority is Ray's default.
PLUGIN = {"class": "serverless_ray.environments.layered_pip.LayeredPipPlugin"}
PLUGIN_CONFIG = json.dumps([PLUGIN])


def is_registered(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether Ray processes started from (or running in) ``environ`` load the plugin.

    Ray's workers inherit their node's raylet environment, so in a replica, a gateway or
    the controller this says whether its node's agent builds layered environments."""
    return any(entry.get("class") == PLUGIN["class"] for entry in _plugins(os.environ if environ is None else environ))


def register(environ: MutableMapping[str, str] | None = None) -> None:
    """Add the plugin to ``RAY_RUNTIME_ENV_PLUGINS`` in ``environ`` (``os.environ`` by
    default), keeping any other plugin already listed there."""
    environ = os.environ if environ is None else environ
    if not is_registered(environ):
        environ[PLUGINS_VARIABLE] = json.dumps([*_plugins(environ), PLUGIN])


def runtime_env(requirements: Sequence[str], environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """The runtime environment that installs ``requirements`` over the platform's own
    packages: a layered one where this node's agent has the plugin, else Ray's ``pip``
    (which copies the platform's virtualenv first). Empty for no requirements.

    Every caller that means the same environment must go through here, so that replicas,
    standbys and tasks of one framework share one environment per node."""
    if not requirements:
        return {}
    field = FIELD if is_registered(environ) else "pip"
    return {field: list(requirements)}


def _plugins(environ: MutableMapping[str, str]) -> list[dict[str, Any]]:
    text = environ.get(PLUGINS_VARIABLE, "").strip()
    if not text:
        return []
    try:
        plugins = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{PLUGINS_VARIABLE} is not JSON ({error}): {text!r}") from None
    if not isinstance(plugins, list):
        raise ValueError(f"{PLUGINS_VARIABLE} must be a JSON list of plugins, not {text!r}")
    return plugins

"""The Ray runtime environment plugin that builds layered environments (see the package's
docstring): ``runtime_env={"layered_pip": ["xgboost-cpu==3.0.5"]}``.

It runs in each node's runtime environment agent, which loads it from
``RAY_RUNTIME_ENV_PLUGINS``. An environment is a virtualenv without pip of its own, under
``$SERVERLESS_RAY_ENVIRONMENTS/<hash>``, with one ``.pth`` file that adds the platform's
``site-packages`` (and so its ``.pth`` files, editable installs among them) after the
environment's own; pip (the platform's, run by the environment's interpreter) then
installs the requirements into it, and considers what the platform has as installed, as
with ``--system-site-packages``. A requirement that the platform has at another version
(``numpy<2``, say) is installed into the environment and shadows the platform's there,
which stays as it is.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from filelock import FileLock
from ray._private.runtime_env.plugin import RuntimeEnvPlugin
from ray._private.utils import get_directory_size_bytes

from . import DEFAULT_DIRECTORY, DIRECTORY_VARIABLE, FIELD

#: Written last: a directory without it is a build that did not finish, and is rebuilt.
COMPLETE = ".complete"
#: The ``.pth`` file that lays the environment over the platform's packages.
LAYER_FILE = "_serverless_ray_platform.pth"
#: Fields that choose the interpreter too; a layered environment does, so they conflict.
EXCLUSIVE_FIELDS = ("pip", "uv", "conda", "py_executable", "container", "image_uri")
_PIP_OUTPUT_TAIL = 4000


class LayeredPipPlugin(RuntimeEnvPlugin):
    """``layered_pip``: a list of pip requirement lines, installed over the platform's
    own packages into an environment shared by every worker that asks for the same list
    on the node."""

    name = FIELD

    def __init__(self) -> None:
        self._root = Path(os.environ.get(DIRECTORY_VARIABLE) or DEFAULT_DIRECTORY)
        self._platform_paths = _platform_site_packages()

    @staticmethod
    def validate(runtime_env_dict: dict) -> None:
        requirements = runtime_env_dict.get(FIELD)
        if not isinstance(requirements, list) or not all(isinstance(line, str) for line in requirements):
            raise TypeError(f"runtime_env[{FIELD!r}] must be a list of pip requirement lines, not {requirements!r}")
        clashes = [field for field in EXCLUSIVE_FIELDS if runtime_env_dict.get(field)]
        if clashes:
            raise ValueError(f"runtime_env[{FIELD!r}] chooses the interpreter itself and cannot be combined with "
                             f"{', '.join(map(repr, clashes))}")

    def get_uris(self, runtime_env: Any) -> list[str]:
        # Asked of every runtime environment, with this field or not.
        requirements = runtime_env.get(FIELD)
        return [f"{FIELD}://{self._key(requirements)}"] if requirements else []

    async def create(self, uri: str | None, runtime_env: Any, context: Any, logger: logging.Logger) -> float:
        directory = self._directory(uri)
        requirements = list(runtime_env[FIELD])
        # Blocking work (a lock other agents on this machine may hold, pip) off the agent's loop.
        return await asyncio.to_thread(self._ensure, directory, requirements, logger)

    def modify_context(self, uris: list[str], runtime_env: Any, context: Any, logger: logging.Logger) -> None:
        directory = self._directory(uris[0])
        python = directory / "bin" / "python"
        if not (directory / COMPLETE).exists():
            raise RuntimeError(f"the layered environment {directory} for {uris[0]} is not on this node; its build "
                               "may have failed (see runtime_env_setup-*.log)")
        context.py_executable = str(python)
        # As Ray's pip environments do: PATH and VIRTUAL_ENV for what the worker runs.
        context.command_prefix += ["source", str(directory / "bin" / "activate"), "1>&2", "&&"]

    def delete_uri(self, uri: str, logger: logging.Logger) -> float:
        directory = self._directory(uri)
        with FileLock(f"{directory}.lock"):
            size = get_directory_size_bytes(directory) if directory.exists() else 0
            shutil.rmtree(directory, ignore_errors=True)
        logger.info("removed the layered environment %s (%d MB)", directory, size // 2**20)
        return size

    # -- building ----------------------------------------------------------------------

    def _key(self, requirements: list[str]) -> str:
        """Names an environment by what it installs and what it is layered on, so that a
        platform reinstalled elsewhere or on another Python or Ray gets environments of
        its own."""
        import ray

        identity = {"requirements": list(requirements), "platform": self._platform_paths,
                    "python": sys.version_info[:2], "ray": ray.__version__}
        return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def _directory(self, uri: str | None) -> Path:
        if not uri or not uri.startswith(f"{FIELD}://"):
            raise ValueError(f"not a {FIELD} URI: {uri!r}")
        return self._root / uri[len(FIELD) + 3:]

    def _ensure(self, directory: Path, requirements: list[str], logger: logging.Logger) -> float:
        directory.parent.mkdir(parents=True, exist_ok=True)
        # Agents of other nodes on this machine (and other Ray sessions) share the directory.
        with FileLock(f"{directory}.lock"):
            if (directory / COMPLETE).exists():
                logger.info("reusing the layered environment %s", directory)
            else:
                self._build(directory, requirements, logger)
        return float(get_directory_size_bytes(directory))

    def _build(self, directory: Path, requirements: list[str], logger: logging.Logger) -> None:
        shutil.rmtree(directory, ignore_errors=True)  # an unfinished build
        logger.info("building the layered environment %s for %s", directory, requirements)
        _run([sys.executable, "-m", "venv", "--without-pip", str(directory)], logger)
        site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(directory), "platbase": str(directory)}))
        lines = [f"import site; site.addsitedir({path!r})" for path in self._platform_paths]
        (site_packages / LAYER_FILE).write_text("\n".join(lines) + "\n")
        listed = directory / "requirements.txt"
        listed.write_text("\n".join(requirements) + "\n")
        try:
            _run([str(directory / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                  "--no-cache-dir", "-r", str(listed)], logger)
        except subprocess.CalledProcessError as failed:
            shutil.rmtree(directory, ignore_errors=True)
            output = (failed.stdout or "")[-_PIP_OUTPUT_TAIL:]
            raise RuntimeError(f"pip could not install {requirements}: {output}") from None
        (directory / COMPLETE).write_text("")


def _platform_site_packages() -> list[str]:
    """The platform's own ``site-packages`` (pure and platform-specific, if they differ):
    those of the interpreter the agent runs, which is the cluster's."""
    paths = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    return list(dict.fromkeys(paths))


def _run(command: list[str], logger: logging.Logger) -> None:
    logger.info("running %s", " ".join(command))
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.stdout:
        logger.info("%s", done.stdout.rstrip())
    done.check_returncode()

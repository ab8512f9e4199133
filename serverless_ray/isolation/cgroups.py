"""Memory and CPU limits through Linux control groups, v2 or v1, behind one interface.

A replica's group is created under a directory of this platform's own
(``serverless-ray-<scope>``) inside the cgroup the replica process started in, so
that whatever limits the node already puts on that cgroup still hold, and nothing
outside our own directory is ever written (except, on v2, enabling the memory and cpu
controllers for the children of the starting cgroup, which delegation requires).

* v2 (unified): ``memory.max``, ``memory.swap.max`` = 0, ``cpu.max`` = quota and
  period; OOM kills are counted in ``memory.events`` (``oom_kill``).
* v1: ``memory.limit_in_bytes`` in the memory hierarchy, ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us`` in the cpu hierarchy; OOM kills are counted in
  ``memory.oom_control`` (``oom_kill``).

Everything here works on plain paths, so the logic is tested over a fake tree; only
:func:`detect` looks at the live system (through the text of ``/proc/self/cgroup`` and
``/proc/self/mountinfo``, which can be passed in).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

CPU_PERIOD_US = 100_000
SCOPE_PREFIX = "serverless-ray-"


class CgroupUnavailable(Exception):
    """This node offers no writable cgroup hierarchy with the memory and cpu controllers."""


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.events, memory.oom_control, memory.stat) as a dict."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            values[parts[0]] = int(parts[1])
    return values


@dataclass(frozen=True)
class Group:
    """One replica's control group: one directory on v2; a memory and a cpu one on v1."""

    version: int
    memory_dir: Path
    cpu_dir: Path

    @property
    def dirs(self) -> tuple[Path, ...]:
        return (self.memory_dir,) if self.cpu_dir == self.memory_dir else (self.memory_dir, self.cpu_dir)

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the group."""
        for directory in self.dirs:
            _write(directory / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        pids: set[int] = set()
        for directory in self.dirs:
            try:
                pids.update(int(p) for p in _read(directory / "cgroup.procs").split())
            except FileNotFoundError:
                continue
        return sorted(pids)

    def memory_usage(self) -> int | None:
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        try:
            return int(_read(self.memory_dir / name).strip())
        except (OSError, ValueError):
            return None

    def oom_kills(self) -> int:
        """Processes the kernel killed in this group for going past its memory limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            return _keyed(_read(self.memory_dir / name)).get("oom_kill", 0)
        except OSError:
            return 0

    def exists(self) -> bool:
        return any(directory.is_dir() for directory in self.dirs)

    def remove(self, rmdir: Callable[[Path], None] = os.rmdir) -> bool:
        """Remove the group (only possible once no process is left in it), and our scope
        directory with it when no other replica's group is left there."""
        removed = True
        for directory in self.dirs:
            try:
                rmdir(directory)
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
                continue
            if directory.parent.name.startswith(SCOPE_PREFIX):
                try:
                    rmdir(directory.parent)
                except OSError:  # another replica's group is in it (or its v2 files: kept)
                    pass
        return removed

    def to_record(self) -> dict:
        return {"version": self.version, "memory": str(self.memory_dir), "cpu": str(self.cpu_dir)}

    @classmethod
    def from_record(cls, data: dict) -> "Group":
        return cls(int(data["version"]), Path(data["memory"]), Path(data["cpu"]))


class Hierarchy(Protocol):
    version: int

    def create(self, name: str, *, memory_bytes: int, cpus: float) -> Group: ...


def cpu_quota_us(cpus: float, period_us: int = CPU_PERIOD_US) -> int:
    """CFS quota for ``cpus`` CPUs; the kernel refuses quotas under 1 ms."""
    return max(1000, int(round(cpus * period_us)))


@dataclass(frozen=True)
class CgroupV2:
    """The unified hierarchy; ``parent`` is the cgroup our scope directory goes under."""

    parent: Path
    scope: str
    version: int = 2

    @property
    def scope_dir(self) -> Path:
        return self.parent / f"{SCOPE_PREFIX}{self.scope}"

    def create(self, name: str, *, memory_bytes: int, cpus: float) -> Group:
        try:
            available = set(_read(self.parent / "cgroup.controllers").split())
        except OSError as exc:
            raise CgroupUnavailable(f"cannot read {self.parent / 'cgroup.controllers'}: {exc}") from exc
        missing = {"memory", "cpu"} - available
        if missing:
            raise CgroupUnavailable(f"controllers {sorted(missing)} are not delegated to {self.parent}")
        try:
            _enable_controllers(self.parent)
            self.scope_dir.mkdir(exist_ok=True)
            _enable_controllers(self.scope_dir)
            group_dir = self.scope_dir / name
            group_dir.mkdir(exist_ok=True)
            _write(group_dir / "memory.max", str(memory_bytes))
            if (group_dir / "memory.swap.max").exists():
                _write(group_dir / "memory.swap.max", "0")  # the tier is RAM, not RAM plus swap
            _write(group_dir / "cpu.max", f"{cpu_quota_us(cpus)} {CPU_PERIOD_US}")
        except OSError as exc:
            raise CgroupUnavailable(f"cannot create a cgroup under {self.parent}: {exc}") from exc
        return Group(2, group_dir, group_dir)


def _enable_controllers(directory: Path) -> None:
    control = directory / "cgroup.subtree_control"
    enabled = {c.lstrip("+") for c in _read(control).split()} if control.exists() else set()
    wanted = [c for c in ("memory", "cpu") if c not in enabled]
    if wanted:
        _write(control, " ".join(f"+{c}" for c in wanted))


@dataclass(frozen=True)
class CgroupV1:
    """Separate memory and cpu hierarchies; each ``*_parent`` is the process's cgroup there."""

    memory_parent: Path
    cpu_parent: Path
    scope: str
    version: int = 1

    def create(self, name: str, *, memory_bytes: int, cpus: float) -> Group:
        directory = f"{SCOPE_PREFIX}{self.scope}"
        memory_dir = self.memory_parent / directory / name
        cpu_dir = self.cpu_parent / directory / name
        try:
            memory_dir.mkdir(parents=True, exist_ok=True)
            cpu_dir.mkdir(parents=True, exist_ok=True)
            _write(memory_dir / "memory.limit_in_bytes", str(memory_bytes))
            _write(cpu_dir / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(cpu_dir / "cpu.cfs_quota_us", str(cpu_quota_us(cpus)))
        except OSError as exc:
            Group(1, memory_dir, cpu_dir).remove()
            raise CgroupUnavailable(f"cannot create a cgroup under {self.memory_parent}: {exc}") from exc
        return Group(1, memory_dir, cpu_dir)


def owned_by_scope(group: Group, scope: str) -> bool:
    """True if every directory of ``group`` sits right inside our scope directory: the
    only groups this platform ever writes to or removes."""
    return all(directory.parent.name == f"{SCOPE_PREFIX}{scope}" for directory in group.dirs)


def detect(
    scope: str,
    *,
    proc_cgroup: str | None = None,
    mountinfo: str | None = None,
    parent: Path | None = None,
) -> Hierarchy:
    """The hierarchy replicas of this process's node get their groups in.

    ``proc_cgroup`` and ``mountinfo`` default to this process's ``/proc/self/cgroup``
    and ``/proc/self/mountinfo``. ``parent`` (v2 only) names a delegated cgroup to use
    instead of the process's own. Raises :class:`CgroupUnavailable`.
    """
    if proc_cgroup is None:
        proc_cgroup = _read_or_empty("/proc/self/cgroup")
    if mountinfo is None:
        mountinfo = _read_or_empty("/proc/self/mountinfo")
    memberships = _memberships(proc_cgroup)
    v1_mounts, v2_mount = _mounts(mountinfo)
    if "memory" in v1_mounts and "cpu" in v1_mounts:
        memory_parent = _join(v1_mounts["memory"], memberships.get("memory", "/"))
        cpu_parent = _join(v1_mounts["cpu"], memberships.get("cpu", "/"))
        for directory in (memory_parent, cpu_parent):
            if not os.access(directory, os.W_OK):
                raise CgroupUnavailable(f"{directory} is not writable")
        return CgroupV1(memory_parent, cpu_parent, scope)
    if v2_mount is not None and "memory" not in v1_mounts:
        base = parent or _join(v2_mount, memberships.get("", "/"))
        if not os.access(base, os.W_OK):
            raise CgroupUnavailable(f"{base} is not writable")
        return CgroupV2(base, scope)
    raise CgroupUnavailable("no cgroup hierarchy with the memory and cpu controllers is mounted")


def _read_or_empty(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _memberships(proc_cgroup: str) -> dict[str, str]:
    """Controller → cgroup path; the v2 membership is under the key ``""``."""
    memberships: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            memberships[""] = path
        for controller in controllers.split(","):
            if controller:
                memberships[controller] = path
    return memberships


Mount = tuple[Path, str]  # mount point, and the hierarchy path mounted there ("/" unless a bind mount)


def _mounts(mountinfo: str) -> tuple[dict[str, Mount], Mount | None]:
    """(v1 controller → mount, v2 mount) from mountinfo text."""
    v1: dict[str, Mount] = {}
    v2: Mount | None = None
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        if not sep:
            continue
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        mount = (Path(fields[4]), fields[3])
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup2" and v2 is None:
            v2 = mount
        elif fstype == "cgroup":
            for option in options:
                if option in ("memory", "cpu"):
                    v1.setdefault(option, mount)
    return v1, v2


def _join(mount: Mount, path: str) -> Path:
    """Where cgroup ``path`` (as /proc/self/cgroup names it) is under ``mount``."""
    mount_point, root = mount
    root = root.rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    relative = path.strip("/")
    return mount_point / relative if relative else mount_point

"""A replica's private scratch directory, capped at the endpoint's ephemeral storage.

Where the node allows it (root, ``mkfs.ext4`` and loop devices) the directory is a
filesystem of its own: a sparse image file of exactly the cap, formatted ext4 and
loop-mounted, so a write past the cap fails with ``ENOSPC`` like on a full disk, and
the image costs disk space only as it is written. Elsewhere it is a plain directory
whose size a watchdog checks (:mod:`.watchdog`): past the cap the call fails and the
replica is replaced, since nothing stopped the write itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

IMAGE = "disk.img"
MOUNT = "scratch"


@dataclass(frozen=True)
class ScratchDisk:
    path: Path  # the directory the replica writes to
    capacity_bytes: int
    mounted: bool  # True: a filesystem of exactly the cap enforces it

    def used_bytes(self) -> int:
        return used_bytes(self.path, mounted=self.mounted)


def create(home: Path, capacity_bytes: int) -> ScratchDisk:
    """A scratch directory under ``home`` (the replica's record directory)."""
    path = home / MOUNT
    path.mkdir(parents=True, exist_ok=True)
    if _can_mount():
        try:
            _mount_image(home / IMAGE, path, capacity_bytes)
            return ScratchDisk(path, capacity_bytes, mounted=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            log.warning("no size-limited scratch filesystem (%s); a watchdog checks the size instead", exc)
            (home / IMAGE).unlink(missing_ok=True)
    return ScratchDisk(path, capacity_bytes, mounted=False)


def remove(home: Path) -> bool:
    """Unmount and delete the scratch directory of ``home``; True once it is gone."""
    path = home / MOUNT
    if os.path.ismount(path):
        # Lazy: a process of the replica that is still exiting may hold it open.
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True, timeout=30)
        if os.path.ismount(path):
            return False
    shutil.rmtree(path, ignore_errors=True)
    (home / IMAGE).unlink(missing_ok=True)
    return not path.exists()


def used_bytes(path: Path, *, mounted: bool) -> int:
    """Bytes written under ``path`` (blocks in use of its own filesystem when mounted)."""
    if mounted:
        # A fresh ext4 without journal holds a few dozen KB itself: close enough to 0.
        stats = os.statvfs(path)
        return (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    return _tree_bytes(path)


def _tree_bytes(path: Path) -> int:
    total = 0
    for root, dirs, files in os.walk(path, onerror=lambda _: None):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mkfs.ext4") is not None and shutil.which("mount") is not None


def _mount_image(image: Path, mount_point: Path, capacity_bytes: int) -> None:
    with open(image, "wb") as f:
        f.truncate(capacity_bytes)
    # No journal, no reserved blocks, inode tables initialised lazily: a 5 GB image is
    # made in a fraction of a second and takes a few MB until written to.
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-E", "lazy_itable_init=1,nodiscard", str(image)],
        check=True, capture_output=True, timeout=60,
    )
    subprocess.run(
        ["mount", "-o", "loop,nosuid,nodev", str(image), str(mount_point)],
        check=True, capture_output=True, timeout=60,
    )
    os.chmod(mount_point, 0o1777)
    lost = mount_point / "lost+found"
    if lost.is_dir():
        lost.rmdir()

"""Run tests several times, each in a fresh pytest process, and list every test that
failed in any run: flakes are found here before they reach CI.

    .venv/bin/python tests/repeat.py --runs 10 tests/integration/test_multinode.py
    make repeat RUNS=10 TESTS=tests/integration/test_multinode.py

Prints one line per run (counts and duration) and, at the end, each test that failed
or errored with the runs it failed in and the first line of its first failure. Exits
non-zero if any run had a failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunResult:
    number: int
    seconds: float
    exit_code: int
    passed: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # test id -> first line of the failure
    skipped: int = 0


def parse_junit(path: Path) -> tuple[int, int, dict[str, str]]:
    """(passed, skipped, failed test id -> message) from a pytest JUnit XML report."""
    passed = skipped = 0
    failed: dict[str, str] = {}
    if not path.exists():
        return passed, skipped, failed
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            failed[test_id] = message[0][:200] if message else ""
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, skipped, failed


def run_once(number: int, pytest_args: list[str], workdir: Path) -> RunResult:
    report = workdir / f"run-{number}.xml"
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *pytest_args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    passed, skipped, failed = parse_junit(report)
    if completed.returncode not in (0, 1) and not failed:
        failed["<session>"] = f"pytest exited with {completed.returncode}"
    return RunResult(number, time.monotonic() - started, completed.returncode, passed, failed, skipped)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="how many times to run (default 5)")
    parser.add_argument("pytest_args", nargs="*", default=["tests/integration"],
                        help="what to run, as given to pytest (default tests/integration)")
    args = parser.parse_args(argv)
    failures: dict[str, list[int]] = defaultdict(list)
    first_message: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="repeat-") as tmp:
        for number in range(1, args.runs + 1):
            result = run_once(number, args.pytest_args, Path(tmp))
            print(f"run {number}/{args.runs}: {result.passed} passed, {len(result.failed)} failed, "
                  f"{result.skipped} skipped in {result.seconds:.0f} s", flush=True)
            for test_id, message in result.failed.items():
                failures[test_id].append(number)
                first_message.setdefault(test_id, message)
    if not failures:
        print(f"no test failed in {args.runs} runs")
        return 0
    print(f"tests that failed in any of {args.runs} runs:")
    for test_id, runs in sorted(failures.items()):
        print(f"  {test_id}: failed in run(s) {', '.join(map(str, runs))}: {first_message[test_id]}")
    return 1


if __name__ == "__main__":
    sys.exit(main())

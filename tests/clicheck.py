"""Shared by the Python end-to-end tests of the CLI (cli_e2e.py, hostile.py,
iqa_cli.py): where the CLI and ../shared are, one "ok / FAIL" line per check,
and the closing count with the exit status."""
import os

BUILD = os.environ.get("CC_BUILD", "build")
CLI = os.path.join(BUILD, "contrastcam")
SHARED = os.environ.get("CC_SHARED", "../shared")

_count = {"checks": 0, "failures": 0}


def check(cond, what):
    _count["checks"] += 1
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        _count["failures"] += 1


def summary():
    """Prints "N checks, M failed"; returns the exit status (1 if any failed)."""
    print(f"{_count['checks']} checks, {_count['failures']} failed")
    return 1 if _count["failures"] else 0

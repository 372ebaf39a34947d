"""Installing a plugin distribution with pip into a directory of its own, for tests.

Tests then put that directory on ``sys.path`` (or ``PYTHONPATH`` for a subprocess) and
the plugin is found through its entry points exactly as after ``pip install``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def install_into(source: Path, target: Path) -> Path:
    """``pip install --no-deps --target target source``; returns ``target``.

    Builds without isolation, so the build backend (hatchling) must be installed.
    """
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
    )
    return target

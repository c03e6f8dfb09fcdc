"""The import layers stay one-way (import-linter, configured in pyproject.toml).

Routes and commands reach datasets through the workspace, the workspace through the explore
layer and the stores, and nothing below imports anything above it: a store that imported the
web layer, or the catalog that imported the text index, would fail here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_imports_flow_one_way():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken." in result.stdout

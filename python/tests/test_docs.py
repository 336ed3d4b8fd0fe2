"""The API reference (Sphinx, python/docs) builds without a single warning
(`make docs` runs the same command). Skipped only when Sphinx is not installed."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mlpflow

pytest.importorskip("sphinx")
DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_api_reference_builds_without_warnings(tmp_path):
    env = dict(os.environ, MLPFLOW_LIB=mlpflow.lib_path,
               PYTHONPATH=str(Path(mlpflow.__file__).resolve().parent.parent))
    p = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                        str(DOCS), str(tmp_path / "html")], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    page = re.sub("<[^>]+>", "", (tmp_path / "html" / "index.html").read_text())
    for name in ("mlpflow.train", "mlpflow.Result", "mlpflow.from_torch", "loss_curve",
                 "maxtime_ode [inf]"):
        assert name in page, name

"""`make python` builds a wheel that carries libmlpflow.so; installed into a fresh
venv it imports from any directory with no environment variables set."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlpflow

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.skipif(shutil.which("make") is None or not (REPO / "Makefile").exists(),
                    reason="needs make and the source tree")
def test_wheel_installs_into_a_fresh_venv_and_imports_anywhere(tmp_path):
    build = Path(mlpflow.lib_path).resolve().parent
    env = {k: v for k, v in os.environ.items() if k not in ("MLPFLOW_LIB", "PYTHONPATH")}
    p = subprocess.run(["make", "-s", "python", "BUILD=%s" % os.path.relpath(build, REPO),
                        "PYTHON=%s" % sys.executable, "PYPKG=%s" % (tmp_path / "pkg")],
                       cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    wheels = sorted((build / "dist").glob("mlpflow-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    # the system's pip installs into the venv (--python): no pip copy needed in the venv
    p = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "-q",
                        "--no-index", "--no-deps", "--disable-pip-version-check",
                        str(wheels[0])], capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import mlpflow, numpy as np; "
            "n = mlpflow.Net([(2, 'tanh', True), (1, 'identity', False)], np.eye(3, 2), "
            "np.ones(3)); print(mlpflow.lib_path); print(repr(mlpflow.loss(n, np.ones(8))))")
    p = subprocess.run([py, "-c", code], cwd=elsewhere, capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    lib, loss = p.stdout.split()
    assert lib.startswith(str(venv)) and lib.endswith("mlpflow/libmlpflow.so")
    n = mlpflow.Net([(2, "tanh", True), (1, "identity", False)], [[1, 0], [0, 1], [0, 0]],
                    [1, 1, 1])
    assert float(loss) == mlpflow.loss(n, [1.0] * 8)
    assert (Path(lib).parent / "py.typed").exists()

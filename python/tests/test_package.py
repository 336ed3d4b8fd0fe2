"""Packaging: library discovery, the ImportError, docstrings on every public name."""
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlpflow

PKG = Path(mlpflow.__file__).resolve().parent


def test_mlpflow_lib_env_is_used_first():
    env = os.environ.get("MLPFLOW_LIB")
    if env:
        assert mlpflow.lib_path == env


def test_import_error_lists_every_path(tmp_path):
    import ctypes.util
    if ctypes.util.find_library("mlpflow") or any(
            os.path.exists(d + "/libmlpflow.so") for d in ("/usr/local/lib", "/usr/lib")):
        pytest.skip("an installed libmlpflow would be found")
    dst = tmp_path / "repo" / "python" / "mlpflow"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, MLPFLOW_LIB=str(tmp_path / "nope" / "libmlpflow.so"),
               PYTHONPATH=str(dst.parent))
    p = subprocess.run([sys.executable, "-c", "import mlpflow"], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=60)
    assert p.returncode != 0
    assert "ImportError" in p.stderr
    assert str(tmp_path / "nope" / "libmlpflow.so") in p.stderr               # MLPFLOW_LIB
    assert str(tmp_path / "repo" / "build" / "libmlpflow.so") in p.stderr     # build tree
    assert "/usr/local/lib/libmlpflow.so" in p.stderr and "/usr/lib/libmlpflow.so" in p.stderr


def test_every_public_name_has_a_docstring_with_an_example():
    import mlpflow.plot
    names = [(mlpflow, n) for n in mlpflow.__all__ if n not in ("lib_path", "__version__",
                                                                 "RESULT_KEYS")]
    names += [(mlpflow.plot, n) for n in mlpflow.plot.__all__]
    missing = []
    for mod, n in names:
        obj = getattr(mod, n)
        doc = inspect.getdoc(obj) or ""
        if "Example" not in doc:
            missing.append("%s.%s" % (mod.__name__, n))
    assert not missing, missing
    assert "Example" in (mlpflow.__doc__ or "")

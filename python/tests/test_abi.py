"""The package checks at import that its ctypes mirrors match the loaded library;
its version is the library's, which is the one in include/mlpflow.h."""
import ctypes
import re
from pathlib import Path

import mlpflow
from mlpflow import _lib

ROOT = Path(__file__).resolve().parents[2]


def test_mirrors_match_the_library():
    assert _lib.abi_mismatches() == []


def test_a_changed_mirror_is_caught():
    class mlpf_result(ctypes.Structure):      # one field missing at the front
        _fields_ = _lib.mlpf_result._fields_[1:]
    saved = _lib.MIRRORS
    try:
        _lib.MIRRORS = (mlpf_result,)
        bad = _lib.abi_mismatches()
    finally:
        _lib.MIRRORS = saved
    assert any("mlpf_result: size" in b for b in bad)
    assert any("offset" in b for b in bad)


def test_one_version_source():
    hdr = (ROOT / "include" / "mlpflow.h").read_text()
    parts = [re.search(r"#define MLPF_VERSION_%s (\d+)" % k, hdr).group(1)
             for k in ("MAJOR", "MINOR", "PATCH")]
    assert mlpflow.__version__ == ".".join(parts)
    toml = (ROOT / "python" / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', toml, re.M).group(1) == mlpflow.__version__


def test_passive_openmp_waiting_by_default():
    """Importing the package sets OMP_WAIT_POLICY=PASSIVE unless the user chose one:
    spinning threads make 2-thread runs slower than one on a busy machine."""
    import os
    import subprocess
    import sys
    code = "import os, mlpflow; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "PASSIVE", out.stderr
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "ACTIVE", out.stderr

"""Example 15 (digits, matrix-free spectra and a permutation point) in --quick mode, and
the digits export script; both need Debian's python3-sklearn and skip without it."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_examples import run_example

pytest.importorskip("sklearn")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "export_digits.py"


def test_export_digits(tmp_path):
    p = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    X, y = np.load(tmp_path / "digits_X.npy"), np.load(tmp_path / "digits_y.npy")
    assert X.shape == (1797, 64) and X.dtype == np.float64 and 0 <= X.min() and X.max() == 1
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))


def test_15_digits_saddles(tmp_path):
    f, out = run_example("15_digits_saddles.py", tmp_path)
    P = int(re.search(r"P = (\d+)", f).group(1))
    assert P == 682
    small = [float(v) for v in re.search(r"10 smallest eigenvalues: \[([^\]]*)\]", out,
                                         re.S).group(1).split()]
    large = [float(v) for v in re.search(r"10 largest eigenvalues:  \[([^\]]*)\]", out,
                                         re.S).group(1).split()]
    assert len(small) == len(large) == 10 and small == sorted(small) and small[-1] < large[0]
    assert re.search(r"index \d+", f) and "ex15_digits_density.png" in \
        [p.name for p in tmp_path.iterdir()]

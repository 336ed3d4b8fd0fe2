"""Example 9 (symmetry-induced lines) in --quick mode: counts and indices."""
import re

from test_examples import num, run_example


def test_09_symmetry_induced(tmp_path):
    f, out = run_example("09_symmetry_induced.py", tmp_path)
    assert "counts match G and T: True" in f
    agree, total = map(int, re.search(r"(\d+)/(\d+) points along the lines", f).groups())
    assert agree == total > 0
    assert num(r"max gnorm ([0-9.e+-]+)", f) <= 1e-12
    # the index changes where lambda leaves [0, 1]
    idx = re.search(r"unit 0: lam .*\n\s+index ([-0-9 ]+)", out).group(1).split()
    assert len(set(idx)) > 1

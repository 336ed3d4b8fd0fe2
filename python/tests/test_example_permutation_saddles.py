"""Example 10 (permutation saddles) in --quick mode."""
import re

from test_examples import run_example


def test_10_permutation_saddles(tmp_path):
    f, _ = run_example("10_permutation_saddles.py", tmp_path)
    pairs, crit, minima, saddles, first = map(int, re.search(
        r"(\d+) pairs, (\d+) critical \((\d+) minima, (\d+) saddles, (\d+) first-order\)",
        f).groups())
    assert pairs == 9 and crit == pairs
    assert first >= 1 and saddles > first - 1 and minima >= 1   # some first-order, not all
    assert "every critical one with >= 1 zero eigenvalue: True" in f

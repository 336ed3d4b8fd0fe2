"""Example 11 (copy-or-average for other k, n and relu) in --quick mode."""
from test_examples import num, run_example


def test_11_copy_average_general(tmp_path):
    f, out = run_example("11_copy_average_general.py", tmp_path)
    assert num(r"max copy-average gnorm ([0-9.e+-]+)", f) <= 1e-12
    erf_ca = num(r"erf runs ending at a copy-average point ([0-9.]+)", f)
    erf_ap = num(r"erf runs .*? approx-copy ([0-9.]+);", f)
    assert erf_ca + erf_ap == 1.0 and erf_ca >= 0.5
    assert num(r"relu CA ([0-9.]+)", f) > 0
    # erf: the best pattern is n - 1 copies and one average (k=4, n=2: sizes 3 and 1)
    assert "sigmoid2   4  2 (3, 1)" in out and "(best CA pattern (3, 1))" in out

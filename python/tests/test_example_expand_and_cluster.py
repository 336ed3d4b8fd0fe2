"""Example 12 (expand-and-cluster) in --quick mode."""
from test_examples import num, run_example


def test_12_expand_and_cluster(tmp_path):
    f, _ = run_example("12_expand_and_cluster.py", tmp_path)
    assert f.startswith("finding: 3/3 teacher units recovered")
    assert num(r"min cosine ([0-9.]+)", f) > 1 - 1e-9
    assert num(r"max err_out ([0-9.e+-]+)", f) < 1e-8
    assert num(r"reconstructed loss ([0-9.e+-]+)", f) < 1e-10

"""Example 8 (channels to infinity) in --quick mode: most seeds of a 2-unit tanh
student of a 3-unit teacher end in a channel whose GLU limit fits the pair."""
from test_examples import num, run_example


def test_08_channels(tmp_path):
    f, out = run_example("08_channels.py", tmp_path)
    assert (tmp_path / "ex8_channels.png").exists()
    nch = int(num(r"tanh 3->2: (\d+)/4 seeds end in channels", f))
    assert nch >= 2, f
    assert num(r"GLU fit error median ([0-9.e+-]+),", f) < 1e-4
    assert num(r"\|a\| ~ t\^([0-9.e+-]+);", f) > 0          # output weights keep growing
    assert num(r"the end of the channel is ([0-9.e+-]+) lower", f) >= 0

"""examples/14_notebook.py (cells for a notebook) runs as a script in --quick mode:
it trains, saves, reloads bit-identically, evaluates a test loss and plots."""
import json
import re

import mlpflow
from test_examples import run_example


def test_14_notebook(tmp_path):
    finding, out = run_example("14_notebook.py", tmp_path)
    assert "reloaded identical True" in finding
    assert ", a minimum, " in finding          # zero loss: a global minimum, classified
    loss = float(re.search(r"loss ([0-9.e+-]+) gnorm", finding).group(1))
    test_loss = float(re.search(r"test loss ([0-9.e+-]+)", finding).group(1))
    assert loss < 1e-20 and test_loss < 1e-15
    run = mlpflow.load(tmp_path / "ex14_run")
    assert abs(run["loss"] - loss) <= 1e-3 * loss          # printed with %.3e
    assert json.loads((tmp_path / "ex14_run.json").read_text())["net"]["type"] == "Net"
    assert run.network.input.shape == (200, 2)
    assert mlpflow.loss(run.network, run["x"]) == run["loss"]
    assert (tmp_path / "ex14_overview.png").stat().st_size > 10000

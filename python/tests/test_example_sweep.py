"""examples/13_sweep_channels.py --quick: the sweep runs, its table adds up, its
channel verdicts hold on the stored parameters, and running it again resumes (no run
is repeated)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlpflow as mf

pytest.importorskip("pandas")
EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "13_sweep_channels.py"


def run(out):
    env = dict(os.environ)
    env["MLPFLOW_LIB"] = mf.lib_path
    env["PYTHONPATH"] = str(Path(mf.__file__).resolve().parent.parent)
    env.setdefault("MPLBACKEND", "Agg")
    p = subprocess.run([sys.executable, str(EXAMPLE), "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_example_13_sweep_channels(tmp_path):
    out = run(tmp_path)
    rows = [l.split() for l in out.splitlines() if l[:3].strip().isdigit()]
    assert [int(r[0]) for r in rows] == [3, 4] and all(int(r[1]) == 6 for r in rows)
    for r in rows:                                   # the outcome fractions add up to 1
        assert abs(sum(float(v) for v in r[2:]) - 1) < 0.02, r
    assert any(l.startswith("finding: channels in") for l in out.splitlines())
    for png in ("ex13_channels.png", "ex13_outcomes.png"):
        assert (tmp_path / png).stat().st_size > 1000
    res = json.load(open(tmp_path / "ex13_sweep.json"))
    db = res["database"]
    assert len(res["runs"]) == 12
    for r in res["runs"]:                            # the analysis layer's verdicts hold
        run_ = mf.load_run(db, r["run_id"])
        n = r["n"]
        assert r["kind"] in ("minimum", "saddle", "channel", "not_critical")
        if r["kind"] == "channel":
            assert r["n_channels"] >= 1
            a = run_["x"][2 * n:3 * n]               # two large output weights, opposite signs
            assert a.max() * a.min() < 0
        if r["outcome"] == "global minimum":
            assert r["kind"] == "minimum" and r["loss"] <= 1e-20
        if r["kind"] == "saddle":
            assert r["saddle_index"] >= 1
    finished = mf.load_sweep(db)["finished_at"].tolist()
    assert run(tmp_path) == out                      # resumed: nothing new, the same table
    assert mf.load_sweep(db)["finished_at"].tolist() == finished

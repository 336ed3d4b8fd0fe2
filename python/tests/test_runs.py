"""load_run: a CLI run (RUN.json + RUN.npz) read back as one dict, with the pair
checked: two runs mixed, a missing file or a cut .npz are errors."""
import json
import shutil
import subprocess

import numpy as np
import pytest

import mlpflow
from conftest import cli_path

CLI = cli_path()
pytestmark = pytest.mark.skipif(CLI is None, reason="the mlpflow CLI is not built")


def train(tmp_path, run, seed):
    spec = {"layers": [[3, "tanh", True], [1, "identity", False]], "input": "X.npy",
            "target": "Y.npy", "train": {"maxiterations_ode": 20, "maxiterations_optim": 5}}
    X = np.random.default_rng(2).standard_normal((9, 2))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", np.tanh(X[:, :1]))
    (tmp_path / "S.json").write_text(json.dumps(spec))
    p = subprocess.run([CLI, "train", "--spec", "S.json", "--seed", str(seed), "--quiet",
                        "-o", run], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_load_run_reads_json_and_arrays(tmp_path):
    train(tmp_path, "R", 1)
    r = mlpflow.load_run(tmp_path / "R")
    assert r["nparams"] == 12 and r["x"].shape == (12,) and r["init"].shape == (12,)
    assert r["trajectory_x"].shape == (r["ntrajectory"], 12)
    assert isinstance(r["loss"], float) and r["options"]["maxT"] == np.inf
    for name in ("R.json", "R.npz"):
        assert np.array_equal(mlpflow.load_run(tmp_path / name)["x"], r["x"])


def test_load_run_detects_mixed_and_partial_pairs(tmp_path):
    train(tmp_path, "R", 1)
    shutil.copy(tmp_path / "R.json", tmp_path / "old.json")
    train(tmp_path, "R", 2)
    shutil.copy(tmp_path / "old.json", tmp_path / "R.json")   # a kill between the two renames
    with pytest.raises(ValueError, match="is not the file .*R.json records"):
        mlpflow.load_run(tmp_path / "R")
    train(tmp_path, "C", 1)
    data = (tmp_path / "C.npz").read_bytes()
    (tmp_path / "C.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="different runs or a run was stopped"):
        mlpflow.load_run(tmp_path / "C")
    (tmp_path / "C.json").unlink()
    with pytest.raises(ValueError, match="cannot read the run"):
        mlpflow.load_run(tmp_path / "C")
    (tmp_path / "D.json").write_text('{"npz": {"bytes": 1, "crc32": "0"}, "npz": 2}')
    (tmp_path / "D.npz").write_bytes(b"x")
    with pytest.raises(ValueError, match='duplicate key "npz"'):
        mlpflow.load_run(tmp_path / "D")

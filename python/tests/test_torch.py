"""torch interop: random Linear/Tanh/Softplus/Sigmoid stacks give the same outputs
(to 1e-14) through mlpflow, and to_torch / from_torch round-trip exactly."""
import numpy as np
import pytest

import mlpflow

torch = pytest.importorskip("torch")

ACTS = [torch.nn.Tanh, torch.nn.Softplus, torch.nn.Sigmoid]


def random_stack(rng):
    sizes = [int(rng.integers(1, 5))] + [int(rng.integers(1, 7)) for _ in range(rng.integers(1, 4))]
    mods = []
    for k in range(len(sizes) - 1):
        mods.append(torch.nn.Linear(sizes[k], sizes[k + 1], bias=bool(rng.integers(0, 2))))
        if k < len(sizes) - 2 or rng.integers(0, 2):
            mods.append(ACTS[int(rng.integers(0, 3))]())
    return torch.nn.Sequential(*mods).double(), sizes[0]


def test_random_stacks_match_to_1e14():
    rng = np.random.default_rng(11)
    torch.manual_seed(11)
    for trial in range(12):
        model, din = random_stack(rng)
        layers, x = mlpflow.from_torch(model)
        net = mlpflow.TeacherNet(layers, din=din, params=x)
        X = rng.standard_normal((50, din)) * 3
        want = model(torch.from_numpy(X)).detach().numpy()
        assert np.abs(net(X) - want).max() <= 1e-14 * max(1.0, np.abs(want).max()), trial
        back = mlpflow.to_torch(net, x)
        assert np.abs(back(torch.from_numpy(X)).detach().numpy() - net(X)).max() <= \
            1e-14 * max(1.0, np.abs(want).max())
        layers2, x2 = mlpflow.from_torch(back)
        assert layers2 == layers and np.array_equal(x2, x)
        names = [type(m).__name__ for m in model if not isinstance(m, torch.nn.Linear)]
        sd_acts = [L[1] for L in layers]
        assert [a for a in sd_acts if a != "identity"] == [n.lower() for n in names]
        layers3, x3 = mlpflow.from_torch(model.state_dict(), sd_acts)
        assert layers3 == layers and np.array_equal(x3, x)


def test_softplus_is_exact_for_large_inputs():
    net = mlpflow.TeacherNet([(1, "softplus", False), (1, "identity", False)], din=1,
                             params=[1.0, 1.0])
    X = np.array([[-50.0], [-5.0], [0.0], [19.0], [25.0], [39.0], [41.0], [300.0]])
    Y = mlpflow.to_torch(net, net.params)(torch.from_numpy(X)).detach().numpy()
    assert np.array_equal(Y, net(X))


def test_unsupported_modules_are_named():
    with pytest.raises(ValueError, match="module\\[1\\]: Softmax2d"):
        mlpflow.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Softmax2d()))
    with pytest.raises(ValueError, match="beta"):
        mlpflow.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Softplus(beta=2)))
    with pytest.raises(ValueError, match="activations"):
        mlpflow.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2)).state_dict())
    net = mlpflow.TeacherNet([(2, "sigmoid2", True), (1, "identity", False)], din=1)
    with pytest.raises(ValueError, match="sigmoid2"):
        mlpflow.to_torch(net, net.params)

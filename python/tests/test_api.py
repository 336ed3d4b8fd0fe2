"""API polish: loss / gradient / hessian on other data, net(x), train's explicit
keyword options checked against the C option table, type hints, py.typed,
docstrings stating our defaults, a hint for transposed input."""
import math
import inspect
import typing
from pathlib import Path

import numpy as np
import pytest

import mlpflow
from mlpflow import training


def test_evaluation_on_other_data(small_net, rng):
    x = mlpflow.random_params(small_net, seed=3)
    Xt = rng.standard_normal((17, 2))
    Yt = np.cos(Xt[:, :1])
    test_net = mlpflow.Net(small_net.layers, Xt, Yt)
    assert mlpflow.loss(small_net, x, input=Xt, target=Yt) == mlpflow.loss(test_net, x)
    assert np.array_equal(mlpflow.gradient(small_net, x, input=Xt, target=Yt),
                          mlpflow.gradient(test_net, x))
    assert np.array_equal(mlpflow.hessian(small_net, x, input=Xt, target=Yt),
                          mlpflow.hessian(test_net, x))
    assert mlpflow.loss(small_net, x) != mlpflow.loss(test_net, x)
    with pytest.raises(ValueError, match="target"):
        mlpflow.loss(small_net, x, input=Xt)
    with pytest.raises(ValueError, match="input="):
        mlpflow.loss(small_net, x, target=Yt)


def test_teacher_student_test_loss_defaults_to_the_teacher():
    teacher = mlpflow.TeacherNet([(2, "sigmoid2", False), (1, "identity", False)], din=2, seed=4)
    neti = mlpflow.NetI(teacher, [(3, "sigmoid2", False), (1, "identity", False)])
    x = mlpflow.random_params(neti, seed=1)
    X = np.random.default_rng(0).standard_normal((4000, 2))
    sampled = mlpflow.loss(neti, x, input=X)
    assert sampled == mlpflow.loss(mlpflow.Net(neti.layers, X, teacher(X)), x)
    assert abs(sampled - mlpflow.loss(neti, x)) < 0.1 * mlpflow.loss(neti, x)


def test_net_called_on_its_training_input(small_net):
    x = mlpflow.random_params(small_net, seed=2)
    assert np.array_equal(small_net(x), mlpflow.predict(small_net, x, small_net.input))
    assert np.array_equal(small_net(x, small_net.input[:3]), small_net(x)[:3])


def test_train_signature_is_the_c_option_table():
    sig = inspect.signature(mlpflow.train)
    kw = [n for n, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY]
    assert kw == list(training.OPTIONS)           # C table order, then the Python options
    hints = typing.get_type_hints(mlpflow.train)
    pytype = {"double": float, "long": int, "int": int, "size": int, "uint64": int,
              "bool": bool, "string": str}
    for name, ctype, default, doc, _ in training._TABLE:
        assert hints[name] == typing.Optional[pytype[ctype]], name
        assert sig.parameters[name].default is None
        assert "%s [%s]: %s" % (name, "net.maxnorm" if name == "maxnorm" else default, doc) \
            in mlpflow.train.__doc__
    assert hints["return"] is mlpflow.Result
    with pytest.raises(TypeError):
        mlpflow.train(None, None, maxt=3)         # a misspelt option is refused by Python


def test_docstring_states_our_defaults_not_the_reference_systems():
    doc = mlpflow.train.__doc__
    defaults = mlpflow.default_options()
    # the reference stops on the clock (180 s); ours is reproducible: no wall-clock default
    assert "maxtime_ode [inf]" in doc and math.isinf(defaults["maxtime_ode"])
    assert "min_gnorm [1e-15]" in doc and defaults["min_gnorm"] == 1e-15


def test_package_is_typed():
    assert (Path(mlpflow.__file__).parent / "py.typed").exists()
    for f in (mlpflow.loss, mlpflow.Result.save, mlpflow.load, mlpflow.train_many):
        assert inspect.getdoc(f)


def test_transposed_input_gets_a_hint(small_net):
    X = small_net.input
    with pytest.raises(ValueError, match="transposed.*input.T"):
        mlpflow.Net(small_net.layers, X.T, small_net.target)
    x = mlpflow.random_params(small_net)
    with pytest.raises(ValueError, match="transposed.*X.T"):
        mlpflow.predict(small_net, x, X[:5].T)

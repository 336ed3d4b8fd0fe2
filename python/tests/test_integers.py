"""Integers and complex numbers on their way to the library: ctypes would wrap
integers modulo 2**32 / 2**64 and numpy would drop imaginary parts with only a
warning, so each is checked and refused with a ValueError naming the argument."""
import warnings

import numpy as np
import pytest

import mlpflow


def test_units_beyond_c_int_are_refused(rng):
    X = rng.standard_normal((5, 2))
    with pytest.raises(ValueError, match=r"layers\[0\] units: 4294967299 is out of range"):
        mlpflow.Net([(2**32 + 3, "tanh", True), (1, "identity", False)], X, X[:, :1])
    with pytest.raises(ValueError, match="din: 4294967298 is out of range"):
        mlpflow.TeacherNet([(2, "tanh", True), (1, "identity", False)], din=2**32 + 2)


@pytest.mark.parametrize("seed", [-1, 2**64, 2**64 + 5])
def test_seeds_outside_uint64_are_refused(small_net, seed):
    with pytest.raises(ValueError, match="seed: .* is out of range"):
        mlpflow.random_params(small_net, seed=seed)


def test_seed_edges_and_integral_values(small_net):
    top = mlpflow.random_params(small_net, seed=2**64 - 1)
    assert np.array_equal(top, mlpflow.random_params(small_net, seed=np.uint64(2**64 - 1)))
    assert not np.array_equal(top, mlpflow.random_params(small_net, seed=0))
    assert np.array_equal(mlpflow.random_params(small_net, seed=7.0),
                          mlpflow.random_params(small_net, seed=7))
    for bad in (1.5, True, "7", None):
        with pytest.raises(ValueError, match="seed: expected an integer"):
            mlpflow.random_params(small_net, seed=bad)


def test_complex_parameters_are_refused(small_net):
    x = mlpflow.random_params(small_net, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no ComplexWarning on the way
        for f in (mlpflow.loss, mlpflow.gradient, mlpflow.hessian):
            with pytest.raises(ValueError, match="x: complex values are not supported"):
                f(small_net, x + 1e-3j)
        with pytest.raises(ValueError, match="input: complex"):
            mlpflow.Net([(2, "tanh", True), (1, "identity", False)],
                        np.ones((4, 2), dtype=complex), np.ones((4, 1)))


def test_indices_and_counts_are_checked(small_net):
    x = mlpflow.random_params(small_net, seed=1)
    with pytest.raises(ValueError, match="i: 4294967296 is out of range"):
        mlpflow.split_neuron(small_net, x, 2**32)
    with pytest.raises(ValueError, match="extra: -1 is out of range"):
        mlpflow.grow_net(small_net, x, extra=-1)
    with pytest.raises(ValueError, match=r"remove\[1\]: 4294967296 is out of range"):
        mlpflow.shrink_net(small_net, x, [0, 2**32])
    with pytest.raises(ValueError, match="seed: 18446744073709551616 is out of range"):
        mlpflow.grow_net(small_net, x, extra=1, seed=2**64)
    with pytest.raises(ValueError, match=r"merge\[0\]\[1\]: 4294967296 is out of range"):
        mlpflow.Net(small_net.layers, small_net.input, small_net.target,
                    merge=[(0, 2**32, 1, 0.1)])
    teacher = mlpflow.TeacherNet([(2, "tanh", True), (1, "identity", False)], din=2, seed=1)
    with pytest.raises(ValueError, match="order: 4294967336 is out of range"):
        mlpflow.gauss_hermite_net(teacher, [(2, "tanh", True), (1, "identity", False)],
                                  order=2**32 + 40)
    with pytest.raises(mlpflow.Error, match="order must be in 1..5000"):
        mlpflow.gauss_hermite_net(teacher, [(2, "tanh", True), (1, "identity", False)],
                                  order=100000)

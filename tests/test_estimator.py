"""ConvexNet: the scikit-learn estimator over library + certified Lasso + network reconstruction."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

import netmirror
from netmirror import ConvexNet, datasets

PARAMS = {"activation", "depth", "beta", "architecture", "slope", "widths", "dedup", "tol", "max_iter",
          "matrix_free"}

# (activation, depth, extra keyword arguments) exercised on the toy and noisy data
FAMILIES = [
    ("relu", 2, {}), ("relu", 3, {}), ("relu", 4, {}),
    ("leaky_relu", 3, {"slope": 0.1}), ("leaky_relu", 2, {"slope": -0.3}),
    ("abs", 2, {}), ("abs", 3, {}), ("abs", 4, {}),
    ("sign", 2, {}), ("sign", 3, {}), ("threshold", 3, {}),
    ("relu", 3, {"architecture": "symmetrized"}), ("leaky_relu", 3, {"architecture": "symmetrized", "slope": 0.1}),
    ("sign", 3, {"architecture": "rectangular", "widths": (2, 2)}),
    ("threshold", 4, {"architecture": "tree", "widths": (2, 2, 2)}),
]


def _fid(case):
    act, depth, kw = case
    return f"{act}-{kw.get('architecture', 'deep_narrow')}-L{depth}"


def _data(name):
    return datasets.noisy(16) if name == "noisy" else datasets.toy(name)


# --------------------------------------------------------------------------------------------------
# parameters
def test_get_set_params_and_clone():
    model = ConvexNet("abs", 3, 0.5, slope=None, tol=1e-8)
    params = model.get_params()
    assert set(params) == PARAMS
    assert params["activation"] == "abs" and params["depth"] == 3 and params["beta"] == 0.5
    assert model.set_params(depth=4, beta=0.1) is model
    assert (model.depth, model.beta) == (4, 0.1)
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    with pytest.raises(ValueError):
        model.set_params(nonsense=1)
    assert repr(model) == "ConvexNet(activation='abs', beta=0.1, depth=4, tol=1e-08)"


def test_init_stores_params_only():
    model = ConvexNet("bogus", depth=-3, beta=-1.0)  # validated in fit, not in __init__
    assert model.activation == "bogus" and model.depth == -3 and model.beta == -1.0
    assert not [k for k in vars(model) if k.endswith("_")]


# --------------------------------------------------------------------------------------------------
# fit and predict
def test_fit_predict_shapes_and_input_forms():
    x, y = datasets.toy("opt")
    m1 = ConvexNet("relu", 3, 1e-2).fit(x, y)
    assert m1.n_features_in_ == 1
    assert m1.coef_.shape == (len(m1.library_),)
    assert isinstance(m1.intercept_, float)
    assert m1.predict(x).shape == (6,)
    grid = np.linspace(-1, 12, 37)
    m2 = ConvexNet("relu", 3, 1e-2).fit(x[:, None], y)  # (n, 1) gives the same model
    m3 = ConvexNet("relu", 3, 1e-2).fit(list(x), list(y))  # plain lists
    for m in (m2, m3):
        np.testing.assert_array_equal(m.coef_, m1.coef_)
        np.testing.assert_array_equal(m.predict(grid[:, None]), m1.predict(grid))
    assert m1.predict(grid[:, None]).shape == (37,)
    assert m1.predict([3.0]).shape == (1,)


@pytest.mark.parametrize("name", ["three_points", "zshape", "bounce", "opt", "noisy"])
@pytest.mark.parametrize("case", FAMILIES, ids=_fid)
def test_predict_is_network_and_objective_is_network_loss(name, case):
    act, depth, kw = case
    x, y = _data(name)
    beta = 1e-2 * float(np.sum((y - y.mean()) ** 2))
    model = ConvexNet(act, depth, beta, **kw).fit(x, y)
    assert model.converged_ and model.gap_ >= 0.0
    assert model.gap_ <= 1e-9 * max(1.0, model.objective_)
    grid = np.concatenate([x, np.linspace(x.min() - 3, x.max() + 3, 101)])
    pred = model.predict(grid)
    np.testing.assert_allclose(pred, model.network_.forward(grid), rtol=1e-9, atol=1e-9 * max(1.0, np.abs(y).max()))
    assert model.objective_ == pytest.approx(model.network_.loss(x, y), rel=1e-9, abs=1e-12)
    # the objective is the Lasso's with beta~ = beta * beta_scale on the same library
    lib = model.library_
    res = netmirror.lasso(lib.matrix(), y, beta * lib.beta_scale, fit_intercept=lib.fit_intercept)
    assert model.objective_ == pytest.approx(res.objective, rel=1e-9, abs=1e-12)
    assert model.network_.penalty() == pytest.approx(beta * lib.beta_scale * np.abs(model.coef_).sum(), rel=1e-9)


def test_symmetrized_solves_with_half_beta():
    x, y = datasets.toy("opt")
    model = ConvexNet("relu", 3, 0.2, architecture="symmetrized").fit(x, y)
    assert model.library_.beta_scale == 0.5
    res = netmirror.lasso(model.library_.matrix(), y, 0.1)
    np.testing.assert_allclose(model.coef_, res.coef, atol=1e-12)
    assert model.objective_ == pytest.approx(res.objective, rel=1e-12)


def test_two_dimensional_sign_net():
    rng = np.random.default_rng(1)
    ang = rng.uniform(0.1, np.pi - 0.1, 12)
    X = np.c_[np.cos(ang), np.sin(ang)] * rng.uniform(0.5, 2.0, 12)[:, None]
    y = np.sign(np.cos(ang))
    model = ConvexNet("sign", 2, 1e-2).fit(X, y)
    assert model.n_features_in_ == 2 and model.intercept_ == 0.0 and not model.library_.fit_intercept
    np.testing.assert_allclose(model.predict(X), model.network_.forward(X), atol=1e-12)
    assert model.objective_ == pytest.approx(model.network_.loss(X, y), rel=1e-9)
    assert model.score(X, y) > 0.9
    with pytest.raises(ValueError, match="2 features"):
        ConvexNet("sign", 2, 1e-2).fit(X, y).predict(X[:, :1])


def test_score_is_r2():
    x, y = datasets.noisy(20)
    model = ConvexNet("abs", 3, 0.5).fit(x, y)
    assert model.score(x, y) == pytest.approx(r2_score(y, model.predict(x)))
    assert 0.5 < model.score(x, y) <= 1.0


def test_refit_replaces_everything():
    x, y = datasets.toy("opt")
    model = ConvexNet("relu", 2, 1e-2).fit(x, y)
    x2, y2 = datasets.toy("zshape")
    model.fit(x2, y2)
    assert len(model.library_.x) == 4 and model.coef_.shape == (len(model.library_),)
    np.testing.assert_allclose(model.predict(x2), ConvexNet("relu", 2, 1e-2).fit(x2, y2).predict(x2))


def test_constant_target_and_predict_in_blocks(monkeypatch):
    x, _ = datasets.toy("opt")
    model = ConvexNet("relu", 3, 1e-2).fit(x, np.full(6, 2.5))
    assert not np.any(model.coef_) and model.intercept_ == pytest.approx(2.5)
    np.testing.assert_allclose(model.predict(np.linspace(-5, 20, 9)), 2.5)
    # predictions assembled in small row blocks equal the one-block result
    x, y = datasets.noisy(20)
    model = ConvexNet("abs", 3, 0.3).fit(x, y)
    grid = np.linspace(-2, 13, 501)
    full = model.predict(grid)
    monkeypatch.setattr("netmirror._estimator._PREDICT_BLOCK_BYTES", 8 * len(model.coef_) * 7)
    np.testing.assert_allclose(model.predict(grid), full, rtol=1e-12, atol=1e-14)


def test_single_distinct_input_gives_the_mean():
    model = ConvexNet().fit([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])  # every feature is constant: empty library
    assert len(model.library_) == 0 and model.coef_.shape == (0,)
    assert model.intercept_ == 2.0 and model.objective_ == 1.0 and model.converged_
    np.testing.assert_array_equal(model.predict([0.0, 5.0]), [2.0, 2.0])
    assert model.network_.loss([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0)


def test_pipeline_and_cross_validation():
    x, y = datasets.noisy(24)
    pipe = make_pipeline(FunctionTransformer(lambda v: v / 10.0), ConvexNet("relu", 2, 0.05))
    scores = cross_val_score(pipe, x[:, None], y, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


# --------------------------------------------------------------------------------------------------
# pickling, not fitted
def test_pickle_roundtrip():
    x, y = datasets.toy("bounce")
    model = ConvexNet("abs", 3, 1e-2).fit(x, y)
    back = pickle.loads(pickle.dumps(model))
    assert back.get_params() == model.get_params()
    np.testing.assert_array_equal(back.coef_, model.coef_)
    assert len(back.library_) == len(model.library_)
    np.testing.assert_array_equal(back.library_.raw_indices(), model.library_.raw_indices())
    grid = np.linspace(-2, 9, 50)
    np.testing.assert_array_equal(back.predict(grid), model.predict(grid))
    np.testing.assert_allclose(back.network_.forward(grid), model.network_.forward(grid))
    assert back.objective_ == model.objective_ and back.gap_ == model.gap_
    # unfitted estimators pickle too
    fresh = pickle.loads(pickle.dumps(ConvexNet("sign", 3)))
    assert fresh.get_params() == ConvexNet("sign", 3).get_params()
    # pickling does not change the fitted estimator
    assert hasattr(model, "library_") and hasattr(model, "network_")


def test_not_fitted():
    with pytest.raises(NotFittedError):
        ConvexNet().predict([[1.0]])
    with pytest.raises(NotFittedError):
        ConvexNet().score([[1.0], [2.0]], [1.0, 2.0])


# --------------------------------------------------------------------------------------------------
# bad input
@pytest.mark.parametrize("X, y, match", [
    ([[0.0, 1.0], [1.0, 2.0], [2.0, 0.0]], [0.0, 1.0, 0.0], "1 feature"),
    (np.ones((3, 3)), [0.0, 1.0, 0.0], "1 feature"),
    ([0.0, np.nan, 2.0], [0.0, 1.0, 0.0], "NaN"),
    ([0.0, np.inf, 2.0], [0.0, 1.0, 0.0], "infinity"),
    ([0.0, 1.0, 2.0], [0.0, np.nan, 0.0], "NaN"),
    ([0.0, 1.0, 2.0], [0.0, 1.0], "inconsistent numbers of samples"),
    ([1.0], [1.0], "minimum of 2"),
    (np.zeros((0, 1)), [], "0 sample"),
    ([["a"], ["b"], ["c"]], [0.0, 1.0, 0.0], "could not convert"),
])
def test_bad_training_data(X, y, match):
    with pytest.raises(ValueError, match=match):
        ConvexNet().fit(X, y)


@pytest.mark.parametrize("params, match", [
    ({"beta": 0.0}, "beta"), ({"beta": -1.0}, "beta"), ({"beta": float("nan")}, "beta"), ({"beta": True}, "beta"),
    ({"activation": "tanh"}, "unknown activation"), ({"depth": 9}, "out of range"),
    ({"activation": "leaky_relu"}, "slope"), ({"slope": 0.1}, "slope"),
    ({"architecture": "symmetrized", "depth": 2}, "out of range"),
    ({"tol": -1.0}, "tol"), ({"max_iter": 0}, "max_iter"),
])
def test_bad_params_raise_in_fit(params, match):
    x, y = datasets.toy("opt")
    with pytest.raises(ValueError, match=match):
        ConvexNet(**params).fit(x, y)


def test_bad_predict_input():
    x, y = datasets.toy("opt")
    model = ConvexNet().fit(x, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(np.ones((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        model.predict([1.0, np.nan])
    with pytest.raises(ValueError, match="Reshape your data"):
        model.predict(3.0)


def test_two_features_only_for_two_layer_sign_nets():
    X = np.c_[np.linspace(-1, 1, 5), np.linspace(0.5, 1, 5)]
    with pytest.raises(ValueError, match="2-layer sign nets"):
        ConvexNet("relu", 2).fit(X, np.arange(5.0))
    with pytest.raises(ValueError, match="2-layer sign nets"):
        ConvexNet("sign", 3).fit(X, np.arange(5.0))


# --------------------------------------------------------------------------------------------------
# scikit-learn's estimator checks
#
# ConvexNet takes one feature; it declares the `one_d_array` input tag, so scikit-learn's checks pass it
# X[:, 0] (shape (n,)) instead of their multi-feature X. A few checks then index that 1-D array as 2-D
# themselves, or test things that cannot apply to a one-feature model: those are listed here, each with
# its reason, and the ones that matter are re-run below on one-feature data.
_HARNESS_1D = ("the check indexes X[:, 0] or X.shape[1] of its own data after the one_d_array tag made X 1-D "
               "(an error in the check code, before ConvexNet is called); re-run on 1-feature data below")
EXPECTED_FAILED_CHECKS = {
    "check_dont_overwrite_parameters": _HARNESS_1D,
    "check_n_features_in_after_fitting": _HARNESS_1D,
    "check_dtype_object": _HARNESS_1D,
    "check_f_contiguous_array_estimator": _HARNESS_1D,
    "check_regressors_no_decision_function": _HARNESS_1D,
    "check_methods_sample_order_invariance": _HARNESS_1D,
    "check_methods_subset_invariance": _HARNESS_1D,
    "check_fit2d_1sample": _HARNESS_1D,
    "check_fit2d_1feature": _HARNESS_1D,
    "check_dict_unchanged": _HARNESS_1D,
    "check_n_features_in": _HARNESS_1D,
    "check_fit2d_predict1d": _HARNESS_1D,
    "check_estimator_sparse_array": "scipy cannot build the check's 1-D sparse arrays in lil format (the error "
                                    "is raised while making the data); check_estimator_sparse_matrix covers "
                                    "the rejection of sparse input",
    "check_fit1d": "1-D X of shape (n,) is the documented input of a 1-D network: it is accepted on purpose",
    "check_regressors_train": "asserts training R^2 > 0.5 on the first of 10 features of make_regression data, "
                              "whose target mostly depends on the other 9; a regularised 1-D fit cannot get there",
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS


# tol=1e-6 keeps the checks fast: their 200-point targets are near-interpolated at beta=1e-2
@parametrize_with_checks([ConvexNet(tol=1e-6)], expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# the checks above that the harness cannot run on a 1-D net, on one-feature data
def _one_feature_data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 1))
    y = np.abs(X[:, 0]) + 0.1 * rng.standard_normal(n)
    return X, y


def test_sample_order_and_subset_invariance():
    X, y = _one_feature_data()
    model = ConvexNet("relu", 2, 1e-2, tol=1e-12).fit(X, y)
    pred = model.predict(X)
    perm = np.random.default_rng(1).permutation(len(y))
    np.testing.assert_allclose(model.predict(X[perm]), pred[perm], rtol=1e-12, atol=1e-12)
    for batch in np.array_split(np.arange(len(y)), 5):
        np.testing.assert_allclose(model.predict(X[batch]), pred[batch], rtol=1e-12, atol=1e-12)
    for i in range(3):
        np.testing.assert_allclose(model.predict(X[i:i + 1]), pred[i:i + 1], rtol=1e-12, atol=1e-12)
    # fitting on permuted samples gives the same fitted values (the Lasso fit A z + xi is unique)
    other = ConvexNet("relu", 2, 1e-2, tol=1e-12).fit(X[perm], y[perm])
    np.testing.assert_allclose(other.predict(X), pred, rtol=1e-6, atol=1e-6)


def test_dict_unchanged_by_predict_and_idempotent_fit():
    X, y = _one_feature_data()
    model = ConvexNet("abs", 3, 0.1).fit(X, y)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(model).items()}
    model.predict(X)
    model.score(X, y)
    after = vars(model)
    assert before.keys() == after.keys()
    for k, v in before.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(after[k], v)
        else:
            assert after[k] is v or after[k] == v
    grid = np.linspace(-3, 3, 41)[:, None]
    p1 = model.predict(grid)
    np.testing.assert_array_equal(model.fit(X, y).predict(grid), p1)


def test_n_features_in_and_one_sample_and_dtypes():
    X, y = _one_feature_data()
    model = ConvexNet().fit(X, y)
    assert model.n_features_in_ == 1
    with pytest.raises(ValueError, match="X has 2 features, but ConvexNet is expecting 1 features"):
        model.predict(np.ones((2, 2)))
    with pytest.raises(ValueError, match="1 sample"):
        ConvexNet().fit(X[:1], y[:1])
    ref = model.predict(X)
    np.testing.assert_allclose(ConvexNet().fit(np.asfortranarray(X), y).predict(np.asfortranarray(X)), ref)
    np.testing.assert_allclose(ConvexNet().fit(X.astype(object), y).predict(X.astype(object)), ref)
    np.testing.assert_allclose(ConvexNet().fit(X.astype(np.float32), y).predict(X), ref, rtol=1e-5, atol=1e-5)
    Xi = np.arange(12)[:, None]
    yi = (Xi[:, 0] % 3).astype(np.int64)
    assert ConvexNet().fit(Xi, yi).predict(Xi).dtype == np.float64

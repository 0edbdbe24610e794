"""Representation metrics against the NumPy references, known identities and invariances."""
from __future__ import annotations

import math
import warnings

import netmirror
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from netmirror import DegenerateMetricWarning, reference


def random_orthogonal(rng, p):
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return q * np.sign(np.diag(r))


seeds = st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------------------------------
# alignment
@given(seeds, st.integers(1, 6), st.integers(2, 6))
def test_alignment_pearson_matches_corrcoef(seed, r, c):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((r, c)), rng.standard_normal((r, c))
    assert netmirror.alignment(A, B) == pytest.approx(reference.matrix_pearson(A, B), abs=1e-12)
    assert netmirror.alignment(A, 3 * A + 2) == pytest.approx(1.0, abs=1e-12)  # scale and shift invariant
    assert netmirror.alignment(A, -A) == pytest.approx(-1.0, abs=1e-12)
    cos = float((A * B).sum() / (np.linalg.norm(A) * np.linalg.norm(B)))
    assert netmirror.alignment(A, B, kind="cosine") == pytest.approx(cos, abs=1e-12)


@given(seeds, st.integers(3, 12))
def test_centered_alignment_of_grams_is_linear_cka(seed, n):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((n, 3)), rng.standard_normal((n, 5))
    expected = netmirror.cka(X, Y)
    assert netmirror.alignment(X @ X.T, Y @ Y.T, kind="centered") == pytest.approx(expected, abs=1e-10)
    assert netmirror.kernel_alignment(X @ X.T, Y @ Y.T, centered=True) == pytest.approx(expected, abs=1e-10)
    K1, K2 = X @ X.T, Y @ Y.T
    assert netmirror.kernel_alignment(K1, K2) == pytest.approx(
        float((K1 * K2).sum() / (np.linalg.norm(K1) * np.linalg.norm(K2))), abs=1e-12)


def test_alignment_degenerate_and_bad_input():
    with pytest.warns(DegenerateMetricWarning, match="zero variance"):
        assert netmirror.alignment(np.ones((3, 3)), np.eye(3)) == 0.0
    with pytest.warns(DegenerateMetricWarning, match="zero norm"):
        assert netmirror.alignment(np.zeros((2, 2)), np.eye(2), kind="cosine") == 0.0
    with pytest.raises(ValueError, match="same shape"):
        netmirror.alignment(np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match="kind"):
        netmirror.alignment(np.eye(2), np.eye(2), kind="spearman")
    with pytest.raises(ValueError, match="NaN"):
        netmirror.alignment(np.array([[np.nan, 1.0]]), np.ones((1, 2)))


# --------------------------------------------------------------------------------------------------
# CRH / PAH
@given(seeds, st.integers(2, 7), st.integers(2, 7), st.sampled_from([np.float32, np.float64]))
def test_linear_layer_identities_and_crh(seed, n_in, n_out, dtype):
    """h_b = W h_a and g_a = Wᵀ g_b per sample  =>  H_b = W H_a Wᵀ and G_a = Wᵀ G_b W exactly in expectation."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_out, n_in))
    h_a = (rng.standard_normal((300, n_in)) + 0.5).astype(dtype).astype(np.float64)
    g_b = rng.standard_normal((300, n_out)) * 1e-3
    h_b, g_a = h_a @ W.T, g_b @ W
    accs = {name: netmirror.CovarianceAccumulator(data.shape[1], center=False)
            for name, data in (("H_a", h_a), ("G_a", g_a), ("H_b", h_b), ("G_b", g_b))}
    for lo in range(0, 300, 70):
        for name, data in (("H_a", h_a), ("G_a", g_a), ("H_b", h_b), ("G_b", g_b)):
            accs[name].update(data[lo:lo + 70])
    H_a, G_a, H_b, G_b = (accs[k].second_moment for k in ("H_a", "G_a", "H_b", "G_b"))
    np.testing.assert_allclose(H_b, W @ H_a @ W.T, rtol=0, atol=1e-12 * np.abs(H_b).max())
    np.testing.assert_allclose(G_a, W.T @ G_b @ W, rtol=0, atol=1e-12 * np.abs(G_a).max())
    res = netmirror.crh_alignments(accs["H_a"], accs["G_a"], accs["H_b"], accs["G_b"], W)
    Z_a, Z_b = W.T @ W, W @ W.T
    expected = {"forward_rga": (H_b, G_b), "forward_rwa": (H_b, Z_b), "forward_gwa": (G_b, Z_b),
                "backward_rga": (H_a, G_a), "backward_rwa": (H_a, Z_a), "backward_gwa": (G_a, Z_a)}
    for name, (A, B) in expected.items():
        assert getattr(res, name) == pytest.approx(reference.matrix_pearson(A, B), abs=1e-10), name
    assert set(res.as_dict()) == set(expected)


def test_crh_perfect_alignment_and_phase():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 6))
    Z_a, Z_b = W.T @ W, W @ W.T
    res = netmirror.crh_alignments(2 * Z_a, 5 * Z_a, 3 * Z_b, Z_b, W)
    assert all(v == pytest.approx(1.0, abs=1e-12) for v in res.as_dict().values())
    assert res.phase(0.99) == (63, netmirror._metrics.CRH_NAMES)
    res = netmirror.crh_alignments(2 * Z_a, np.eye(6) + rng.standard_normal((6, 6)) ** 2, 3 * Z_b, Z_b, W)
    code, held = res.phase(0.999)
    assert "backward_rwa" in held and "backward_gwa" not in held and code & (1 << 4) and not code & (1 << 5)
    with pytest.raises(ValueError, match=r"H_b must be \(4, 4\)"):
        netmirror.crh_alignments(Z_a, Z_a, Z_a, Z_b, W)


def test_pah_exponents_recovers_powers():
    rng = np.random.default_rng(1)
    V = random_orthogonal(rng, 8)
    lam = np.exp(rng.uniform(-3, 2, 8))
    Z = (V * lam) @ V.T
    H = 0.3 * (V * lam ** 0.5) @ V.T   # H^2 ∝ Z        -> alpha = 2
    G = 7.0 * (V * lam ** 2) @ V.T     # G^0.5 ∝ Z      -> beta = 0.5
    res = netmirror.pah_exponents(H, G, Z)
    assert res.alpha == pytest.approx(2.0, abs=1e-9) and res.beta == pytest.approx(0.5, abs=1e-9)
    assert res.delta == 1.0 and res.in_range and res.n_eigen == 8
    assert min(res.r2.values()) == pytest.approx(1.0, abs=1e-12)
    res = netmirror.pah_exponents(H, (V * lam ** -0.2) @ V.T, Z)  # G^-5 ∝ Z: β = -5 with δ = 1
    assert res.beta == pytest.approx(-5.0, abs=1e-8)
    # ... and H^0.4 ∝ G^-1 ∝ Z^0.2 is the same relation, inside [-1, 3]: the range fixes no scale
    np.testing.assert_allclose(res.ratio, (0.4, -1.0, 0.2), atol=1e-9)
    assert res.in_range
    with pytest.warns(DegenerateMetricWarning, match="flat"):
        assert netmirror.pah_exponents(np.eye(8), G, Z).alpha == 0.0
    with pytest.raises(ValueError, match="at least 2 positive"):
        netmirror.pah_exponents(np.diag([1.0, 0, 0]), np.eye(3), np.eye(3))


# --------------------------------------------------------------------------------------------------
# CKA
@given(seeds, st.integers(4, 7), st.integers(1, 4), st.integers(1, 4))
def test_cka_matches_gram_references(seed, n, p, q):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((n, p)), rng.standard_normal((n, q)) + X_shift(rng, q)
    K, L = X @ X.T, Y @ Y.T
    assert netmirror.cka(X, Y) == pytest.approx(reference.cka_gram(K, L), abs=1e-10)
    for t in (0.5, 1.0):
        Kr, Lr = reference.rbf_gram(X, t), reference.rbf_gram(Y, t)
        assert netmirror.cka(X, Y, kernel="rbf", sigma=t) == pytest.approx(reference.cka_gram(Kr, Lr), abs=1e-10)
    hsic = netmirror._metrics._hsic_unbiased
    for A, B in ((K, L), (K, K), (L, L)):
        assert hsic(A, B) == pytest.approx(reference.hsic_unbiased_ustat(A, B), rel=1e-9, abs=1e-9)
    # HSIC_1 is translation invariant; on centred data its closed form has no cancellation (with the
    # offset of 10 the uncentred one loses ~1e-10, where netmirror.cka matches exact rational arithmetic)
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    K, L = Xc @ Xc.T, Yc @ Yc.T
    xx, yy = hsic(K, K), hsic(L, L)
    if xx > 0 and yy > 0:
        assert netmirror.cka(X, Y, debiased=True) == pytest.approx(hsic(K, L) / math.sqrt(xx * yy), abs=1e-10)


def X_shift(rng, q):
    return rng.choice([0.0, 10.0]) * np.ones(q)


@pytest.mark.parametrize("kernel,debiased", [("linear", False), ("linear", True), ("rbf", False), ("rbf", True)])
def test_cka_invariances(kernel, debiased):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 6))
    Y = np.tanh(X @ rng.standard_normal((6, 5))) + 0.1 * rng.standard_normal((40, 5))
    base = netmirror.cka(X, Y, kernel=kernel, debiased=debiased)
    assert netmirror.cka(X, X, kernel=kernel, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
    Q = random_orthogonal(rng, 6)
    assert netmirror.cka(X @ Q, Y, kernel=kernel, debiased=debiased) == pytest.approx(base, abs=1e-10)
    assert netmirror.cka(7.5 * X, 0.01 * Y, kernel=kernel, debiased=debiased) == pytest.approx(base, abs=1e-10)
    if not debiased or kernel == "rbf":  # translation: centring (biased) or distances (rbf)
        assert netmirror.cka(X + 3.0, Y - 1.0, kernel=kernel, debiased=debiased) == pytest.approx(base, abs=1e-9)
    assert 0.0 < base <= 1.0


def test_debiased_cka_of_independent_data_is_near_zero():
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((400, 50)), rng.standard_normal((400, 50))
    biased, unbiased = netmirror.cka(X, Y), netmirror.cka(X, Y, debiased=True)
    assert abs(unbiased) < 0.02
    assert biased > 0.05  # the biased estimator is inflated by p/n, which is what debiasing removes


def test_cka_degenerate_and_bad_input():
    X = np.random.default_rng(4).standard_normal((10, 3))
    with pytest.warns(DegenerateMetricWarning, match="constant"):
        assert netmirror.cka(X, np.ones((10, 2))) == 0.0
    with pytest.warns(DegenerateMetricWarning):
        assert netmirror.cka(X, np.ones((10, 2)), debiased=True) == 0.0
    with pytest.raises(ValueError, match="same number of samples"):
        netmirror.cka(X, X[:5])
    with pytest.raises(ValueError, match="at least 4"):
        netmirror.cka(X[:3], X[:3], debiased=True)
    with pytest.raises(ValueError, match="kernel"):
        netmirror.cka(X, X, kernel="poly")
    with pytest.raises(ValueError, match="only to kernel"):
        netmirror.cka(X, X, sigma=0.5)


def test_minibatch_cka_is_averaged_unbiased_hsic():
    rng = np.random.default_rng(5)
    batches = [[rng.standard_normal((16, p)) for p in (3, 8)] for _ in range(4)]
    ys = [[b[0] @ rng.standard_normal((3, 2)), rng.standard_normal((16, 4)), b[1][:, :5]] for b in batches]
    mb = netmirror.MinibatchCKA(2, 3)
    for xs, yl in zip(batches, ys):
        mb.update(xs, yl)
    out = mb.result()
    assert out.shape == (2, 3)
    hsic = netmirror._metrics._hsic_unbiased
    for i in range(2):
        for j in range(3):
            xy = np.mean([hsic(b[i] @ b[i].T, y[j] @ y[j].T) for b, y in zip(batches, ys)])
            xx = np.mean([hsic(b[i] @ b[i].T, b[i] @ b[i].T) for b in batches])
            yy = np.mean([hsic(y[j] @ y[j].T, y[j] @ y[j].T) for y in ys])
            assert out[i, j] == pytest.approx(xy / math.sqrt(xx * yy), abs=1e-12)
    single = netmirror.MinibatchCKA(1, 1).update([batches[0][0]], [ys[0][0]]).result()[0, 0]
    assert single == pytest.approx(netmirror.cka(batches[0][0], ys[0][0], debiased=True), abs=1e-12)
    with pytest.warns(DegenerateMetricWarning):
        netmirror.MinibatchCKA(1, 1).update([np.ones((6, 2))], [batches[0][0][:6]]).result()
    with pytest.raises(ValueError, match="at least 4"):
        netmirror.MinibatchCKA(1, 1).update([np.ones((3, 2))], [np.ones((3, 2))])
    with pytest.raises(ValueError, match="expected 2 X layers"):
        mb.update([batches[0][0]], ys[0])


# --------------------------------------------------------------------------------------------------
# neural collapse
def simplex_etf(C, p, rng):
    M = np.eye(C) - np.ones((C, C)) / C
    return random_orthogonal(rng, p)[:, :C] @ M * 2.5  # (p, C), columns centred, equal norms and angles


def test_neural_collapse_is_zero_when_perfectly_collapsed():
    rng = np.random.default_rng(6)
    C, p = 4, 7
    Mt = simplex_etf(C, p, rng)
    labels = rng.integers(0, C, 200)
    labels[:C] = np.arange(C)
    H = (Mt.T + 1.5)[labels]  # every sample sits on its class mean (plus a global offset)
    res = netmirror.neural_collapse(H, labels, W=Mt.T * 0.3, b=-0.3 * Mt.T @ np.full(p, 1.5))
    for name in ("nc1", "nc2_equinorm_means", "nc2_equinorm_weights", "nc2_equiangular", "nc2_etf_distance", "nc3",
                 "nc4"):
        assert getattr(res, name) == pytest.approx(0.0, abs=1e-12), name
    assert res.n_classes == C


@given(seeds, st.integers(2, 5), st.integers(2, 6))
def test_neural_collapse_matches_reference(seed, C, p):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, 60)
    labels[:C] = np.arange(C)
    labels = np.array([10, 20, 30, 40, 50])[labels]  # non-contiguous labels map in sorted order
    H = rng.standard_normal((60, p)) + rng.standard_normal((5, p))[np.searchsorted([10, 20, 30, 40, 50], labels)]
    W, b = rng.standard_normal((C, p)), rng.standard_normal(C)
    res = netmirror.neural_collapse(H, labels, W=W, b=b)
    ref = reference.neural_collapse(H, labels, W=W, b=b)
    for name, value in ref.items():
        assert getattr(res, name) == pytest.approx(value, rel=1e-8, abs=1e-10), name


def test_neural_collapse_degenerate():
    H = np.ones((6, 3))
    alternating = np.tile([[0.0, 0, 0], [1, 1, 1]], (3, 1))
    with pytest.warns(DegenerateMetricWarning) as record:  # every class has mean 0.5: Σ_B = 0
        assert netmirror.neural_collapse(alternating, [0, 0, 1, 1, 2, 2]).nc1 == math.inf
    assert any("coincide" in str(w.message) for w in record)
    with pytest.raises(ValueError, match="2 classes"):
        netmirror.neural_collapse(H, [0] * 6)
    with pytest.raises(ValueError, match="W must have shape"):
        netmirror.neural_collapse(np.eye(4), [0, 1, 0, 1], W=np.ones((3, 4)))


# --------------------------------------------------------------------------------------------------
# NFA, spectra, ranks
@given(seeds, st.integers(2, 6), st.integers(2, 6))
def test_nfa_correlation(seed, n_out, n_in):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_out, n_in))
    grads = rng.standard_normal((50, n_in)) @ rng.standard_normal((n_in, n_in))
    agop = grads.T @ grads / 50
    assert netmirror.nfa_correlation(W, agop) == pytest.approx(reference.matrix_pearson(W.T @ W, agop), abs=1e-12)
    ev, V = np.linalg.eigh(agop)
    root = (V * np.sqrt(np.clip(ev, 0, None))) @ V.T
    assert netmirror.nfa_correlation(W, agop, power=0.5) == pytest.approx(
        reference.matrix_pearson(W.T @ W, root), abs=1e-10)
    acc = netmirror.CovarianceAccumulator(n_in, center=False).update(grads)
    assert netmirror.nfa_correlation(W, acc) == pytest.approx(netmirror.nfa_correlation(W, agop), abs=1e-12)
    assert netmirror.nfa_correlation(W, W.T @ W) == pytest.approx(1.0, abs=1e-12)


def test_weight_spectra_and_effective_rank():
    rng = np.random.default_rng(7)
    mats = {"a": rng.standard_normal((5, 3)), "b": rng.standard_normal((2, 3, 2))}
    sp = netmirror.weight_spectra(mats)
    np.testing.assert_allclose(sp["a"], np.linalg.svd(mats["a"], compute_uv=False), rtol=1e-12)
    assert sp["b"].shape == (2,) and np.all(np.diff(sp["b"]) <= 0)
    assert isinstance(netmirror.weight_spectra([mats["a"]]), list)
    for method in ("entropy", "stable", "participation", "threshold"):
        # participation centres the columns (rows = samples): eye(5) - 1/5 has rank 4
        assert netmirror.effective_rank(np.eye(5), method=method) == pytest.approx(
            4.0 if method == "participation" else 5.0)
        assert netmirror.effective_rank(np.outer([1.0, 2, 3], [1.0, -1]), method=method) == pytest.approx(1.0)
    s = np.array([4.0, 2.0, 1e-4])
    assert netmirror.effective_rank(s, method="threshold") == 2.0
    assert netmirror.effective_rank(s, method="stable") == pytest.approx((16 + 4 + 1e-8) / 16)
    p = s / s.sum()
    assert netmirror.effective_rank(s) == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    with pytest.warns(DegenerateMetricWarning):
        assert netmirror.effective_rank(np.zeros((3, 3))) == 0.0
    with pytest.raises(ValueError, match="method"):
        netmirror.effective_rank(np.eye(2), method="nuclear")


def test_no_silent_nan():
    """Degenerate inputs warn and return numbers: nothing here may be NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        values = [netmirror.alignment(np.ones((2, 2)), np.ones((2, 2))),
                  netmirror.cka(np.ones((5, 2)), np.ones((5, 2)), debiased=True),
                  netmirror.cka(np.ones((5, 2)), np.ones((5, 2)), kernel="rbf"),
                  netmirror.kernel_alignment(np.zeros((3, 3)), np.eye(3)),
                  netmirror.nfa_correlation(np.zeros((2, 2)), np.eye(2))]
    assert not any(math.isnan(v) for v in values)


# --------------------------------------------------------------------------------------------------
# cross-check with a published implementation (torch_cka, Nguyen-Raghu-Kornblith minibatch CKA); skipped
# when PyTorch / torch_cka are not installed
def test_minibatch_cka_matches_torch_cka():
    torch = pytest.importorskip("torch")
    torch_cka = pytest.importorskip("torch_cka")
    import types

    rng = np.random.default_rng(5)
    batches_x = [rng.standard_normal((40, 7)) for _ in range(4)]
    batches_y = [np.tanh(b @ rng.standard_normal((7, 5))) + 0.3 * rng.standard_normal((40, 5)) for b in batches_x]
    stub = types.SimpleNamespace(device="cpu")  # _HSIC only reads self.device
    hsic = torch_cka.CKA._HSIC
    sums = np.zeros(3)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # its ones-vectors follow the default dtype
    try:
        for bx, by in zip(batches_x, batches_y):  # what torch_cka.CKA.compare does per batch and layer pair
            K = torch.from_numpy(bx @ bx.T)
            L = torch.from_numpy(by @ by.T)
            K.fill_diagonal_(0.0)
            L.fill_diagonal_(0.0)
            sums += [hsic(stub, K, K), hsic(stub, K, L), hsic(stub, L, L)]
    finally:
        torch.set_default_dtype(default)
    theirs = sums[1] / (np.sqrt(sums[0]) * np.sqrt(sums[2]))
    mb = netmirror.MinibatchCKA(1, 1)
    for bx, by in zip(batches_x, batches_y):
        mb.update([bx], [by])
    ours = float(np.asarray(mb.result()).ravel()[0])
    assert ours == pytest.approx(theirs, rel=1e-10)


# --------------------------------------------------------------------------------------------------
# translation invariance over the whole float64 range (offsets up to 1e12), few samples, degenerate input
EPS = np.finfo(np.float64).eps
offsets = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)
log_scales = st.floats(-6.0, 6.0)
CKA_VARIANTS = [("linear", False), ("linear", True), ("rbf", False), ("rbf", True)]


def correlated_pair(rng, n, p, q):
    X = rng.standard_normal((n, p))
    Y = X[:, :1] @ rng.standard_normal((1, q)) + 0.7 * rng.standard_normal((n, q))
    return X, Y


def reference_cka(Xc, Yc, kernel, debiased):
    """CKA from the Gram-matrix references, or None where a self-HSIC is not clearly positive."""
    if kernel == "linear":
        K, L = Xc @ Xc.T, Yc @ Yc.T
    else:
        K, L = reference.rbf_gram(Xc, 1.0), reference.rbf_gram(Yc, 1.0)
    hsic = reference.hsic_unbiased_ustat if debiased else reference.hsic_biased
    xx, yy = hsic(K, K), hsic(L, L)
    n = len(K)
    if xx <= 1e-6 * float((K * K).sum()) / n**2 or yy <= 1e-6 * float((L * L).sum()) / n**2:
        return None
    return hsic(K, L) / math.sqrt(xx * yy)


@pytest.mark.parametrize("kernel,debiased", CKA_VARIANTS)
def test_cka_is_translation_invariant_issue_figures(kernel, debiased):
    """Data of std 1 with a common offset: the issue measured 0.0 (linear, at 1e3 debiased and 1e5 biased,
    with a false 'constant representation' warning) and 0.2177 instead of 0.6669 (rbf at 1e8)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 10))
    Y = X @ rng.standard_normal((10, 8)) + 2.0 * rng.standard_normal((50, 8))
    base = netmirror.cka(X, Y, kernel=kernel, debiased=debiased)
    assert 0.3 < base < 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateMetricWarning)
        for off in (1e3, 1e5, 1e8, 1e12):
            tol = 1e-10 + 10 * off * EPS  # the shifted data carry off·eps of rounding (std 1)
            assert netmirror.cka(X + off, Y, kernel=kernel, debiased=debiased) == pytest.approx(base, abs=tol), off
            assert netmirror.cka(X - off, Y + off, kernel=kernel, debiased=debiased) == pytest.approx(
                base, abs=tol), off


@given(seeds, st.integers(4, 7), st.integers(1, 4), st.integers(1, 4), offsets, offsets, log_scales,
       st.sampled_from(CKA_VARIANTS))
def test_cka_translation_on_the_same_float_data(seed, n, p, q, ox, oy, log_s, variant):
    """CKA of shifted float64 data equals the references on the same data translated exactly (rational
    arithmetic): nothing beyond the digits the shifted data themselves lack is lost, at any offset/scale."""
    kernel, debiased = variant
    rng = np.random.default_rng(seed)
    X, Y = correlated_pair(rng, n, p, q)
    X, Y = 10.0**log_s * X + ox, Y + oy
    Xc, Yc = reference.center_columns_exact(X), reference.center_columns_exact(Y)
    if not Xc.any():  # the offset swallowed the spread: every row is the same float64 vector
        with pytest.warns(DegenerateMetricWarning, match="constant"):
            assert netmirror.cka(X, Y, kernel=kernel, debiased=debiased) == 0.0
        return
    expected = reference_cka(Xc, Yc, kernel, debiased)
    assume(expected is not None)
    assert netmirror.cka(X, Y, kernel=kernel, debiased=debiased) == pytest.approx(expected, abs=1e-9)


@given(seeds, st.integers(10, 40), st.integers(1, 6), st.integers(1, 6), offsets, offsets, log_scales,
       st.sampled_from(CKA_VARIANTS))
def test_cka_translation_against_unshifted(seed, n, p, q, ox, oy, log_s, variant):
    """|cka(X + o) - cka(X)| is bounded by the rounding of the shifted data, |o|·eps/std."""
    kernel, debiased = variant
    rng = np.random.default_rng(seed)
    X, Y = correlated_pair(rng, n, p, q)
    s = 10.0**log_s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        base = netmirror.cka(s * X, Y, kernel=kernel, debiased=debiased)
        shifted = netmirror.cka(s * X + ox, Y + oy, kernel=kernel, debiased=debiased)
    delta = EPS * max(abs(ox) / (s * X.std(axis=0).min()), abs(oy) / Y.std(axis=0).min())
    assume(delta < 1e-4)  # beyond that the shifted data no longer resemble the unshifted ones
    if debiased:  # an ill-conditioned unbiased self-HSIC amplifies any perturbation
        for M in (X, Y):
            Mc = M - M.mean(axis=0)
            K = Mc @ Mc.T
            assume(netmirror._metrics._hsic_unbiased(K, K) > 0.05 * float((K * K).mean()))
    assert shifted == pytest.approx(base, abs=1e-9 + 10 * delta)


def test_minibatch_cka_is_translation_invariant():
    """Issue: MinibatchCKA returned 0.0 at offset 1e3 ('constant layer')."""
    rng = np.random.default_rng(8)
    xs = [rng.standard_normal((32, 10)) for _ in range(3)]
    ys = [x @ rng.standard_normal((10, 6)) + 2.0 * rng.standard_normal((32, 6)) for x in xs]

    def run(ox, oy):
        mb = netmirror.MinibatchCKA(1, 1)
        for x, y in zip(xs, ys):
            mb.update([x + ox], [y + oy])
        return float(mb.result()[0, 0])

    base = run(0.0, 0.0)
    assert 0.3 < base < 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateMetricWarning)
        for off in (1e3, 1e5, 1e8, 1e12):
            assert run(off, -off) == pytest.approx(base, abs=1e-10 + 10 * off * EPS), off


@given(seeds, st.integers(4, 6), st.integers(1, 3), st.integers(1, 3), offsets, offsets, log_scales)
def test_minibatch_cka_translation_on_the_same_float_data(seed, n, p, q, ox, oy, log_s):
    rng = np.random.default_rng(seed)
    pairs = [correlated_pair(rng, n, p, q) for _ in range(2)]
    pairs = [(10.0**log_s * x + ox, y + oy) for x, y in pairs]
    hsic = reference.hsic_unbiased_ustat
    sums = np.zeros(3)
    for x, y in pairs:
        xc, yc = reference.center_columns_exact(x), reference.center_columns_exact(y)
        K, L = xc @ xc.T, yc @ yc.T
        sums += [hsic(K, L), hsic(K, K), hsic(L, L)]
        scale = max(float((K * K).mean()), float((L * L).mean()))
    assume(sums[1] > 1e-6 * float((K * K).mean()) and sums[2] > 1e-6 * float((L * L).mean()) and scale > 0)
    mb = netmirror.MinibatchCKA(1, 1)
    for x, y in pairs:
        mb.update([x], [y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        out = float(mb.result()[0, 0])
    assert out == pytest.approx(sums[0] / math.sqrt(sums[1] * sums[2]), abs=1e-9)


def test_linear_cka_few_samples_many_features():
    """6 x 150,000 was refused as needing 838 GiB (feature-space form): the n x n form needs a few MB."""
    rng = np.random.default_rng(9)
    X = rng.standard_normal((6, 150_000))
    Y = X[:, ::-1] + 0.5 * rng.standard_normal((6, 150_000))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    previous = netmirror.set_memory_limit(64 * 2**20)
    try:
        for debiased in (False, True):
            expected = reference.cka_gram(Xc @ Xc.T, Yc @ Yc.T, debiased=debiased)
            assert netmirror.cka(X, Y, debiased=debiased) == pytest.approx(expected, abs=1e-10)
        # many samples, few features: the feature-space form, no n x n matrix (now also for debiased)
        Z = rng.standard_normal((20_000, 3))
        W = Z @ rng.standard_normal((3, 2)) + rng.standard_normal((20_000, 2))
        assert netmirror.cka(Z, W, debiased=True) == pytest.approx(
            netmirror.cka(Z[:4000], W[:4000], debiased=True), abs=0.05)
        assert 0.2 < netmirror.cka(Z, W) < 1.0
        netmirror.set_memory_limit(2**20)  # neither form fits: the estimate of the smaller one is named
        with pytest.raises(MemoryError, match="linear CKA of 6 samples"):
            netmirror.cka(X, Y)
    finally:
        netmirror.set_memory_limit(previous)


@pytest.mark.parametrize("debiased", [False, True])
@given(seeds, st.integers(4, 9), st.integers(1, 12), st.integers(1, 12))
def test_linear_cka_gram_and_feature_forms_agree(debiased, seed, n, p, q):
    rng = np.random.default_rng(seed)
    X, Y = correlated_pair(rng, n, p, q)
    Xc, Yc = netmirror._metrics._centered(X), netmirror._metrics._centered(Y)
    gram = netmirror._metrics._linear_hsics(Xc, Yc, debiased, True)
    feature = netmirror._metrics._linear_hsics(Xc, Yc, debiased, False)
    for a, b in zip(gram, feature):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12 * max(abs(gram[1]), abs(gram[2])))


def test_cka_constant_representation_is_decided_exactly():
    X = np.random.default_rng(10).standard_normal((12, 3))
    for C in (np.full((12, 2), 1e12), np.full((12, 2), -3.0), np.zeros((12, 1))):
        for kernel, debiased in CKA_VARIANTS:
            with pytest.warns(DegenerateMetricWarning, match="constant"):
                assert netmirror.cka(X, C, kernel=kernel, debiased=debiased) == 0.0
    # one ulp of spread is a (tiny) representation, not a constant one
    tiny = np.full((12, 1), 1e12)
    tiny[::2] = np.nextafter(1e12, 2e12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateMetricWarning)
        assert netmirror.cka(tiny, tiny) == pytest.approx(1.0, abs=1e-12)


def test_neural_collapse_is_translation_invariant_issue_figure():
    """Issue: neural_collapse(H + 1e10, labels).nc1 gave 2.5e11 instead of 0.351, silently."""
    rng = np.random.default_rng(11)
    labels = np.repeat(np.arange(4), 30)
    H = rng.standard_normal((120, 6)) + 2.0 * rng.standard_normal((4, 6))[labels]
    W, b = rng.standard_normal((4, 6)), rng.standard_normal(4)
    base = netmirror.neural_collapse(H, labels, W=W, b=b)
    for off in (1e3, 1e6, 1e10, 1e12):
        o = off * np.linspace(-1.0, 1.0, 6)
        res = netmirror.neural_collapse(H + o, labels, W=W, b=b - W @ o)
        tol = 1e-10 + 1e3 * off * EPS
        for name in ("nc1", "nc2_equinorm_means", "nc2_equiangular", "nc2_etf_distance", "nc3",
                     "nc2_equinorm_weights"):
            assert getattr(res, name) == pytest.approx(getattr(base, name), rel=tol, abs=tol), (name, off)
        if off <= 1e6:  # the logits W h + b - W o lose off·eps·|W| of their digits
            assert res.nc4 == base.nc4, off


@given(seeds, st.integers(2, 5), st.integers(2, 6), offsets, st.floats(-3.0, 3.0))
def test_neural_collapse_translation_on_the_same_float_data(seed, C, p, off, log_s):
    """NC1-NC3 of shifted float64 data equal the reference on the same data translated exactly."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, 40)
    labels[:C] = np.arange(C)
    H = 10.0**log_s * (rng.standard_normal((40, p)) + 2.0 * rng.standard_normal((C, p))[labels])
    H = H + off * rng.uniform(-1.0, 1.0, p)
    W = rng.standard_normal((C, p))
    ref = reference.neural_collapse(reference.center_columns_exact(H), labels, W=W)
    assume(all(math.isfinite(v) for v in ref.values()))
    res = netmirror.neural_collapse(H, labels, W=W)
    for name, value in ref.items():
        if name != "nc4":
            assert getattr(res, name) == pytest.approx(value, rel=1e-7, abs=1e-9), name


def test_effective_rank_participation_centres_and_empty_input():
    rng = np.random.default_rng(12)
    R = rng.standard_normal((200, 60))
    base = netmirror.effective_rank(R, method="participation")
    assert base == pytest.approx(reference.participation_ratio(R), rel=1e-10)
    assert 40 < base < 60
    # issue: a mean of 5 gave 1.08 (the mean direction dominated the uncentred spectrum)
    for off in (5.0, 1e6, 1e12):
        assert netmirror.effective_rank(R + off, method="participation") == pytest.approx(
            base, rel=1e-10 + 1e3 * off * EPS), off
    # the other methods describe the matrix as given (weights are not centred)
    assert netmirror.effective_rank(R + 5.0, method="stable") < 1.5
    with pytest.warns(DegenerateMetricWarning, match="constant"):
        assert netmirror.effective_rank(np.full((5, 3), 7.0), method="participation") == 0.0
    for empty in (np.zeros((0, 3)), np.zeros((3, 0)), np.zeros(0), np.zeros((2, 0, 4))):
        for method in ("entropy", "stable", "participation", "threshold"):
            with pytest.raises(ValueError, match="empty"):
                netmirror.effective_rank(empty, method=method)
    with pytest.raises(ValueError, match="empty"):
        netmirror.weight_spectra(np.zeros((0, 3)))


@given(seeds, st.integers(2, 30), st.integers(1, 8), offsets, log_scales)
def test_effective_rank_participation_translation_on_the_same_float_data(seed, n, p, off, log_s):
    rng = np.random.default_rng(seed)
    X = 10.0**log_s * rng.standard_normal((n, p)) @ rng.standard_normal((p, p)) + off * rng.uniform(-1, 1, p)
    Xc = reference.center_columns_exact(X)
    if not Xc.any():
        with pytest.warns(DegenerateMetricWarning):
            assert netmirror.effective_rank(X, method="participation") == 0.0
        return
    assert netmirror.effective_rank(X, method="participation") == pytest.approx(
        reference.participation_ratio(X), rel=1e-9)


def test_pah_exponents_are_scale_free():
    """Issue: (α, β, δ) = (4, 2, 1) was reported out of range although (2, 1, 1/2) is the same relation."""
    rng = np.random.default_rng(13)
    V = random_orthogonal(rng, 6)
    lam = np.exp(rng.uniform(-4, 3, 6))
    Z = (V * lam) @ V.T
    H = (V * lam ** 0.25) @ V.T  # H = Z^(1/4): H^4 ∝ Z
    G = 3.0 * (V * lam ** 0.5) @ V.T  # G = Z^(1/2): G^2 ∝ Z
    res = netmirror.pah_exponents(H, G, Z)
    assert (res.alpha, res.beta, res.delta) == (pytest.approx(4.0, abs=1e-9), pytest.approx(2.0, abs=1e-9), 1.0)
    assert res.in_range  # (2, 1, 1/2) ∈ [-1, 3]³
    np.testing.assert_allclose(res.ratio, (1.0, 0.5, 0.25), atol=1e-10)  # α : β : δ = 4 : 2 : 1
    assert netmirror.PAHExponents(alpha=-2.0, beta=1.0, delta=1.0, in_range=True, r2={}, n_eigen=2).ratio == (
        -1.0, 0.5, 0.5)

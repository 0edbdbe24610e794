"""Representation-alignment metrics: CRH/PAH alignments, CKA, kernel alignment, neural collapse, NFA, spectra.

Thin float64 NumPy layer; the heavy streaming part (E[h hᵀ], E[g gᵀ]) is ``CovarianceAccumulator``.
Every function states its centring, normalisation and estimator. Degenerate inputs (zero variance, a
negative unbiased HSIC in a denominator) return a documented value with a ``DegenerateMetricWarning``,
never a silent NaN. Definitions follow Kornblith et al. 2019 (CKA), Song et al. 2012 (unbiased HSIC),
Nguyen, Raghu & Kornblith 2021 (minibatch CKA), Cristianini et al. 2001 (kernel alignment), Ziyin et al.
2024 (CRH/PAH), Papyan, Han & Donoho 2020 (neural collapse), Radhakrishnan et al. 2023 (NFA).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import warnings

import numpy as np
from scipy.spatial.distance import pdist, squareform

from . import _checks, _memory
from ._covariance import CovarianceAccumulator

__all__ = [
    "CRHAlignments",
    "DegenerateMetricWarning",
    "MinibatchCKA",
    "NeuralCollapse",
    "PAHExponents",
    "alignment",
    "cka",
    "crh_alignments",
    "effective_rank",
    "kernel_alignment",
    "neural_collapse",
    "nfa_correlation",
    "pah_exponents",
    "weight_spectra",
]


class DegenerateMetricWarning(RuntimeWarning):
    """A metric was undefined on this input (zero variance, negative unbiased HSIC, ...); a documented
    fallback value was returned instead of NaN."""


def _warn(msg):
    warnings.warn(msg, DegenerateMetricWarning, stacklevel=3)


def _need(nbytes, what, hint="use fewer samples or features (subsample them)"):
    _memory.check(nbytes, what, hint)


def _real(M, name):
    """float64 array of real numbers (bool and integers convert; complex, strings and objects do not)."""
    if isinstance(M, CovarianceAccumulator):
        M = M.second_moment
    M = np.asarray(M)
    if M.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {M.dtype}; convert it with .astype(np.float64)")
    with np.errstate(over="ignore"):  # float128 beyond the float64 range becomes inf: rejected below
        return M.astype(np.float64, copy=False)


def _all_finite(M):
    """Whether M holds no NaN/inf, read in slices of rows: no array-sized boolean temporary."""
    if M.ndim == 0:
        return bool(np.isfinite(M))
    rows = max(1, (1 << 20) // max(1, M[0].size))
    return all(np.isfinite(M[i:i + rows]).all() for i in range(0, M.shape[0], rows))


def _unit_exponent(M):
    """e with max|M| in [2^(e-1), 2^e) (0 for a zero matrix)."""
    top = max(float(M.max()), -float(M.min())) if M.size else 0.0  # no |M| temporary
    return math.frexp(top)[1] if top > 0 else 0


def _unit_scale(M):
    """M times the power of 2 that brings max|M| into [0.5, 1): for scale-free quantities, so that neither
    squares of 1e300 overflow nor squares of 1e-300 underflow. A power of 2 is exact: results on ordinary
    data do not change by a single bit."""
    return np.ldexp(M, -_unit_exponent(M))


def _matrix(M, name, square=False, scale_free=False):
    """float64 2-D array; a CovarianceAccumulator stands for its second moment E[x xᵀ]. scale_free: divided
    by its largest |entry| (for quantities invariant to a positive scale)."""
    M = _real(M, name)
    if M.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {M.shape}")
    if M.size == 0:
        raise ValueError(f"{name} is empty (shape {M.shape})")
    if square and M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be square, got shape {M.shape}")
    if not _all_finite(M):
        raise ValueError(f"{name} contains NaN or infinity")
    return _unit_scale(M) if scale_free else M


def _double_center(K):
    return K - K.mean(axis=0, keepdims=True) - K.mean(axis=1, keepdims=True) + K.mean()


def _cosine(a, b, what):
    na, nb = math.sqrt(float(a @ a)), math.sqrt(float(b @ b))
    if na == 0.0 or nb == 0.0:
        _warn(f"{what}: a matrix has zero {'variance' if what == 'pearson' else 'norm'}; returning 0.0")
        return 0.0
    return float(np.clip((a @ b) / (na * nb), -1.0, 1.0))


# --------------------------------------------------------------------------------------------------
# alignment of two matrices
def alignment(A, B, *, kind="pearson"):
    """Alignment of two same-shape matrices, a number in [-1, 1].

    kind="pearson" (the CRH convention): Pearson correlation of the matrix *entries*, i.e. the cosine
        of vec(A) - mean(A) and vec(B) - mean(B). Invariant to positive scaling and to adding a constant
        to every entry; 1 iff A = c B + d with c > 0.
    kind="cosine": ⟨A, B⟩_F / (‖A‖_F ‖B‖_F), no centring (the uncentred kernel alignment).
    kind="centered": cosine of the double-centred matrices HAH and HBH (H = I - 11ᵀ/n; square inputs):
        for Gram matrices this is centred kernel alignment = linear CKA.
    A constant matrix (zero variance / zero norm) gives 0.0 with a DegenerateMetricWarning.
    CovarianceAccumulator arguments stand for their second moment E[x xᵀ].
    """
    if kind not in ("pearson", "cosine", "centered"):
        raise ValueError(f"kind must be 'pearson', 'cosine' or 'centered', got {kind!r}")
    # every kind is invariant to a positive scale of A or B: unit scale keeps the products in range
    A = _matrix(A, "A", square=(kind == "centered"), scale_free=True)
    B = _matrix(B, "B", square=(kind == "centered"), scale_free=True)
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape, got {A.shape} and {B.shape}")
    _need(8 * 6 * A.size, f"the alignment of two {A.shape[0]:,} x {A.shape[1]:,} matrices",
          "use smaller matrices")
    if kind == "pearson":
        a, b = A.ravel() - A.mean(), B.ravel() - B.mean()
    elif kind == "cosine":
        a, b = A.ravel(), B.ravel()
    elif kind == "centered":
        a, b = _double_center(A).ravel(), _double_center(B).ravel()
    else:
        raise ValueError(f"kind must be 'pearson', 'cosine' or 'centered', got {kind!r}")
    return _cosine(a, b, kind)


# --------------------------------------------------------------------------------------------------
# canonical representation hypothesis
CRH_NAMES = ("forward_rga", "forward_rwa", "forward_gwa", "backward_rga", "backward_rwa", "backward_gwa")


@dataclasses.dataclass(frozen=True)
class CRHAlignments:
    """The six CRH alignments of one linear layer h_b = W h_a (Ziyin et al. 2024).

    backward (post-activation side a, Z_a = WᵀW): rga H_a~G_a, rwa H_a~Z_a, gwa G_a~Z_a;
    forward (pre-activation side b, Z_b = WWᵀ):   rga H_b~G_b, rwa H_b~Z_b, gwa G_b~Z_b.
    """
    forward_rga: float
    forward_rwa: float
    forward_gwa: float
    backward_rga: float
    backward_rwa: float
    backward_gwa: float
    kind: str = "pearson"

    def as_dict(self):
        return {name: getattr(self, name) for name in CRH_NAMES}

    def phase(self, threshold=0.9):
        """Which of the 2^6 phases holds: (code, names) where bit k of code is set when alignment k of
        ``CRH_NAMES`` (forward rga, rwa, gwa, backward rga, rwa, gwa) is >= threshold."""
        held = tuple(name for name in CRH_NAMES if getattr(self, name) >= threshold)
        code = sum(1 << k for k, name in enumerate(CRH_NAMES) if name in held)
        return code, held


def crh_alignments(H_a, G_a, H_b, G_b, W, *, kind="pearson"):
    """The six CRH alignments of a linear layer h_b = W h_a, W of shape (out, in).

    H_c = E[h_c h_cᵀ] and G_c = E[g_c g_cᵀ] are *uncentred* second moments (g = -∂ℓ/∂h per sample),
    as in Ziyin et al.; pass matrices or CovarianceAccumulator objects (their ``second_moment`` is used).
    H_a, G_a are (in, in); H_b, G_b are (out, out). ``kind`` as in :func:`alignment` (default: Pearson
    correlation of entries). Returns a :class:`CRHAlignments`.
    """
    if kind not in ("pearson", "cosine", "centered"):
        raise ValueError(f"kind must be 'pearson', 'cosine' or 'centered', got {kind!r}")
    W = _matrix(W, "W", scale_free=True)  # alignments are invariant to the scale of Z = WᵀW, WWᵀ
    n_out, n_in = W.shape
    mats = {}
    for name, M, size in (("H_a", H_a, n_in), ("G_a", G_a, n_in), ("H_b", H_b, n_out), ("G_b", G_b, n_out)):
        M = _matrix(M, name, square=True, scale_free=True)
        if M.shape[0] != size:
            raise ValueError(f"{name} must be ({size}, {size}) for W of shape {W.shape}, got {M.shape}")
        mats[name] = M
    _need(8 * 7 * (n_in * n_in + n_out * n_out), f"the CRH alignments of a {n_out:,} x {n_in:,} layer",
          "use a smaller layer (or a subset of its units)")
    Z_a, Z_b = W.T @ W, W @ W.T
    return CRHAlignments(
        forward_rga=alignment(mats["H_b"], mats["G_b"], kind=kind),
        forward_rwa=alignment(mats["H_b"], Z_b, kind=kind),
        forward_gwa=alignment(mats["G_b"], Z_b, kind=kind),
        backward_rga=alignment(mats["H_a"], mats["G_a"], kind=kind),
        backward_rwa=alignment(mats["H_a"], Z_a, kind=kind),
        backward_gwa=alignment(mats["G_a"], Z_a, kind=kind),
        kind=kind)


@dataclasses.dataclass(frozen=True)
class PAHExponents:
    """Polynomial alignment H^α ∝ G^β ∝ Z^δ (Ziyin et al. 2024).

    The relation is unchanged when α, β, δ are multiplied by one common nonzero factor (H^α ∝ Z^δ iff
    H^{cα} ∝ Z^{cδ} for positive definite matrices), so only their ratio is identifiable.
    alpha, beta, delta : the exponents normalised to δ = 1. ratio : (α, β, δ) divided by their largest
    |value| (largest |entry| 1, δ's sign kept): the scale-free exponents, e.g. (1, 0.5, 0.25) for
    α : β : δ = 4 : 2 : 1. in_range : whether some common rescaling puts all three in the PAH range
    [-1, 3]; since that range contains a neighbourhood of 0, every finite fit has one (the range constrains
    exponents only under a fixed normalisation, and the data fix none), so it is False only for a
    non-finite fit. r2 : coefficient of determination of the two log-log fits ("H", "G");
    n_eigen : eigenvalues used.
    """
    alpha: float
    beta: float
    delta: float
    in_range: bool
    r2: dict
    n_eigen: int
    ratio: tuple | None = None  # computed from alpha, beta, delta when not given

    def __post_init__(self):
        if self.ratio is None:
            exps = (float(self.alpha), float(self.beta), float(self.delta))
            top = max(abs(e) for e in exps)
            object.__setattr__(self, "ratio", tuple(e / top for e in exps) if top > 0 else exps)


def _log_slope(x, y, what):
    """Least-squares slope of y on x and its R²; (0.0, 0.0) with a warning when x is constant."""
    xc, yc = x - x.mean(), y - y.mean()
    sxx = float(xc @ xc)
    if np.ptp(x) <= 1e-9:  # log-spectrum flat up to rounding
        _warn(f"pah_exponents: the spectrum of {what} is flat (isotropic), its exponent is unidentifiable; "
              "returning 0.0")
        return 0.0, 0.0
    slope = float(xc @ yc) / sxx
    syy = float(yc @ yc)
    r2 = 1.0 if syy == 0.0 else 1.0 - float(((yc - slope * xc) ** 2).sum()) / syy
    return slope, r2


def pah_exponents(H, G, Z, *, rtol=1e-10):
    """Power-law exponents of the polynomial alignment hypothesis, H^α ∝ G^β ∝ Z^δ (Ziyin et al. 2024).

    Eigenvalues are matched through Z's eigenvectors v_i: λ_Z,i and the Rayleigh quotients v_iᵀ H v_i,
    v_iᵀ G v_i (the eigenvalues of H and G when they share Z's eigenbasis, as the PAH implies); indices
    where all three exceed ``rtol`` times their largest value are kept. With δ = 1,
    α is the least-squares slope of log λ_Z on log λ_H (α log λ_H = log λ_Z + c), β that of log λ_Z on
    log λ_G. Exponents are reported as fitted (not clipped), with their scale-free ``ratio``; ``in_range``
    asks whether a common rescaling puts them in [-1, 3] (see :class:`PAHExponents`). A flat spectrum
    gives exponent 0.0 with a DegenerateMetricWarning. Matrices or CovarianceAccumulator objects (second
    moments).
    """
    # a positive scale of H, G or Z shifts its log-spectrum only: the fitted slopes do not change
    mats = [_matrix(M, name, square=True, scale_free=True) for M, name in ((H, "H"), (G, "G"), (Z, "Z"))]
    rtol = _checks.real("rtol", rtol, lo=0.0, hi=1.0, hi_open=True)
    if len({M.shape for M in mats}) != 1:
        raise ValueError(f"H, G, Z must have the same shape, got {[M.shape for M in mats]}")
    H_, G_, Z_ = mats
    d = H_.shape[0]
    _need(8 * 8 * d * d, f"the PAH exponents of {d:,} x {d:,} matrices", "use smaller matrices")
    lz, V = np.linalg.eigh((Z_ + Z_.T) / 2)
    # Match eigenvalues through Z's eigenvectors (Rayleigh quotients of H and G there): matching by sorted
    # rank would flip the sign of negative exponents (G^-1 ∝ Z reverses the order of the spectrum).
    lh = np.einsum("ij,ik,kj->j", V, H_, V)
    lg = np.einsum("ij,ik,kj->j", V, G_, V)
    keep = np.ones(len(lz), dtype=bool)
    for ev in (lz, lh, lg):
        keep &= ev > rtol * max(float(ev.max()), 0.0)
    k = int(keep.sum())
    if k < 2:
        raise ValueError(f"pah_exponents needs at least 2 positive eigenvalues common to H, G, Z (got {k})")
    lh, lg, lz = np.log(lh[keep]), np.log(lg[keep]), np.log(lz[keep])
    alpha, r2_h = _log_slope(lh, lz, "H")
    beta, r2_g = _log_slope(lg, lz, "G")
    exps = (alpha, beta, 1.0)
    # c·(α, β, δ) lies in [-1, 3]³ for every small enough c > 0: a common rescaling into the range exists
    # for every finite fit
    in_range = all(math.isfinite(e) for e in exps)
    return PAHExponents(alpha=alpha, beta=beta, delta=1.0, in_range=in_range, r2={"H": r2_h, "G": r2_g},
                        n_eigen=k)


# --------------------------------------------------------------------------------------------------
# CKA and kernel alignment
def _samples(X, name, scale_free=False):
    X = _real(X, name)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"{name} must be (n_samples, n_features), got shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {X.shape})")
    if not _all_finite(X):
        raise ValueError(f"{name} contains NaN or infinity")
    return _unit_scale(X) if scale_free else X


def _centered(X, unit=True):
    """Column-centred copy of X (X itself is not modified): computed at unit scale (sums cannot overflow),
    in two passes — the second removes what the rounding of the first mean left, so the result is the
    exactly centred data to a few ulps of their own spread, whatever the offset. unit=True returns it at
    unit scale again (a spread far below the offset then neither underflows nor loses range in products:
    for CKA, neural collapse and the participation ratio, which are invariant to translation and scale),
    unit=False at the scale of X."""
    e = _unit_exponent(X)
    Xc = np.ldexp(X, -e)
    Xc -= Xc.mean(axis=0)
    Xc -= Xc.mean(axis=0)
    return np.ldexp(Xc, -_unit_exponent(Xc) if unit else e, out=Xc)


def _constant_rows(X):
    """Whether every row of X is the same (a constant representation), decided exactly."""
    return bool(np.all(X.max(axis=0) == X.min(axis=0)))


def _gram_rbf(X, sigma):
    """RBF kernel of the rows of X (centred, unit scale): squared distances from direct differences
    (scipy's pdist), not ‖x‖² + ‖y‖² - 2 x·y, which cancels when the distances are small beside the norms."""
    d2 = squareform(pdist(X, "sqeuclidean"))
    med = float(np.median(d2))
    if med == 0.0:
        _warn("cka: median squared distance is 0 (most samples identical); using bandwidth 1.0")
        med = 1.0
    d2 *= -1.0 / (2.0 * sigma * sigma * med)
    return np.exp(d2, out=d2)


def _hsic_biased(K, L):
    """Tr(K H L H) / (n-1)^2 (Kornblith et al.'s HSIC_0)."""
    n = K.shape[0]
    return float((_double_center(K) * L).sum()) / (n - 1) ** 2


def _hsic_unbiased(K, L):
    """Song et al.'s unbiased HSIC_1 on zero-diagonal copies of K and L (can be negative)."""
    n = K.shape[0]
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    kl = float((K * L).sum())
    k1, l1 = K.sum(axis=0), L.sum(axis=0)
    return (kl + float(k1.sum()) * float(l1.sum()) / ((n - 1) * (n - 2)) - 2.0 * float(k1 @ l1) / (n - 2)) / (
        n * (n - 3))


def _hsic1_terms(tr_kl, k_diag, l_diag, k_rows, l_rows):
    """Song et al.'s HSIC_1 from Tr(KL), the diagonals and the row sums of K and L (no n x n matrix needed):
    with K̃, L̃ the zero-diagonal copies, Tr(K̃L̃) = Tr(KL) - diag(K)·diag(L) and K̃1 = K1 - diag(K)."""
    n = k_diag.shape[0]
    k1, l1 = k_rows - k_diag, l_rows - l_diag
    kl = tr_kl - float(k_diag @ l_diag)
    return (kl + float(k1.sum()) * float(l1.sum()) / ((n - 1) * (n - 2)) - 2.0 * float(k1 @ l1) / (n - 2)) / (
        n * (n - 3))


def _linear_form(n, p, q, what, hint):
    """Whether linear CKA of column-centred X (n, p), Y (n, q) is computed from the n x n Gram matrices
    (O(n²(p+q)) time, n x n memory) rather than in feature space (O(n(pq + p² + q²)) time, p x q, p x p and
    q x q memory): the cheaper form that fits the memory limit; checks the limit against the one used."""
    data = 8 * 2 * n * (p + q)  # the centred unit-scale copies of X and Y
    forms = sorted([(n * n * (p + q), data + 8 * 3 * n * n, True),
                    (n * (p * q + p * p + q * q), data + 8 * max(p * q, p * p, q * q), False)])
    limit = _memory.get_memory_limit()
    _, nbytes, gram = next((f for f in forms if f[1] <= limit), min(forms, key=lambda f: f[1]))
    _need(nbytes, what, hint)
    return gram


def _linear_hsics(Xc, Yc, debiased, gram):
    """(HSIC(K, L), HSIC(K, K), HSIC(L, L), mean K², mean L²) for K = Xc Xcᵀ, L = Yc Ycᵀ of column-centred
    data, up to the common factor 1/(n-1)² of the biased estimator (HK H = K for centred data)."""
    if gram:
        K, L = Xc @ Xc.T, Yc @ Yc.T
        tr = {"xy": float(np.vdot(K, L)), "xx": float(np.vdot(K, K)), "yy": float(np.vdot(L, L))}
        rows = {"x": K.sum(axis=1), "y": L.sum(axis=1)}
        del K, L
    else:
        tr = {"xy": float(np.linalg.norm(Xc.T @ Yc)) ** 2, "xx": float(np.linalg.norm(Xc.T @ Xc)) ** 2,
              "yy": float(np.linalg.norm(Yc.T @ Yc)) ** 2}
        rows = {"x": Xc @ Xc.sum(axis=0), "y": Yc @ Yc.sum(axis=0)}  # K 1 = X (Xᵀ 1): ≈ 0 once centred
    n = Xc.shape[0]
    scale_x, scale_y = tr["xx"] / (n * n), tr["yy"] / (n * n)  # Σ K_ij² = Tr(K K)
    if not debiased:
        return tr["xy"], tr["xx"], tr["yy"], scale_x, scale_y
    dx, dy = np.einsum("ij,ij->i", Xc, Xc), np.einsum("ij,ij->i", Yc, Yc)
    return (_hsic1_terms(tr["xy"], dx, dy, rows["x"], rows["y"]),
            _hsic1_terms(tr["xx"], dx, dx, rows["x"], rows["x"]),
            _hsic1_terms(tr["yy"], dy, dy, rows["y"], rows["y"]), scale_x, scale_y)


_DEGENERATE_RTOL = 1e-12


def _cka_ratio(xy, xx, yy, what, scale_x, scale_y):
    """xy / sqrt(xx yy); 0.0 with a warning when a self-HSIC is <= 1e-12 x its scale (mean squared entry of
    the centred kernel): negative means the unbiased estimator failed on too few or degenerate samples, zero
    up to rounding a (nearly) constant representation."""
    if xx <= _DEGENERATE_RTOL * scale_x or yy <= _DEGENERATE_RTOL * scale_y:
        why = ("negative (unbiased estimator on too few or degenerate samples)" if min(xx, yy) < 0 else
               "zero up to rounding (a nearly constant representation)")
        _warn(f"{what}: a self-HSIC is {why}; returning 0.0")
        return 0.0
    return float(xy / math.sqrt(xx * yy))


def cka(X, Y, *, kernel="linear", sigma=None, debiased=False):
    """Centred kernel alignment of two representations of the same n samples (rows).

    CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with K, L the Gram matrices of X and Y.
    - kernel="linear": K = X Xᵀ of the column-centred X (every estimator here is translation invariant).
      Computed in feature space, ‖Ycᵀ Xc‖²_F / (‖Xcᵀ Xc‖_F ‖Ycᵀ Yc‖_F) for the biased estimator, or from the
      n x n Gram matrices, whichever costs less (n < p, q: Gram form; no n x n matrix when n is large).
    - kernel="rbf": k_ij = exp(-d²_ij / (2 σ² median(d²))), median over the full n×n matrix of squared
      distances including its zero diagonal; ``sigma`` is that *fraction of the median distance*
      (Kornblith et al.'s ``threshold``), default 1.0 (their demo also uses 0.5). Distances are computed
      from differences of the rows, so they keep their digits beside a large common offset.
    - debiased=True: Song et al.'s unbiased HSIC_1 (zero-diagonal Gram matrices, n >= 4) in all three
      terms; it is a U-statistic, so debiased CKA of independent data is ≈ 0 and can be negative.
    Biased HSIC uses H K H with H = I - 11ᵀ/n; the 1/(n-1)² factors cancel in the ratio.
    Returns a float. A constant representation (all rows equal, decided exactly) or a self-HSIC that is
    negative or zero up to rounding (<= 1e-12 x the mean squared entry of the centred kernel) gives 0.0
    with a DegenerateMetricWarning. Memory: O(n²) for rbf, O(min(n², pq + p² + q²)) for linear.
    """
    X, Y = _samples(X, "X"), _samples(Y, "Y")
    n = X.shape[0]
    if Y.shape[0] != n:
        raise ValueError(f"X and Y must have the same number of samples, got {n} and {Y.shape[0]}")
    if n < (4 if debiased else 2):
        raise ValueError(f"cka needs at least {4 if debiased else 2} samples, got {n}")
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"kernel must be 'linear' or 'rbf', got {kernel!r}")
    if kernel == "linear" and sigma is not None:
        raise ValueError("sigma applies only to kernel='rbf'")
    if kernel == "rbf" and sigma is not None:
        sigma = _checks.real("sigma", sigma, lo=0.0, lo_open=True,
                             what="a finite number > 0 (a fraction of the median distance)")
    p, q = X.shape[1], Y.shape[1]
    est = "debiased " if debiased else ""
    if kernel == "linear":
        gram = _linear_form(n, p, q, f"linear {est}CKA of {n:,} samples with {p:,} and {q:,} features",
                            "use fewer features or samples")
    else:  # distances, kernels K, L and their centred or zero-diagonal copies and products
        _need(8 * (6 * n * n + 2 * n * (p + q)), f"rbf {est}CKA of {n:,} samples ({n:,} x {n:,} kernel matrices)",
              "use fewer samples or netmirror.MinibatchCKA over minibatches (linear)")
    if _constant_rows(X) or _constant_rows(Y):
        _warn("cka: a representation is constant (every sample the same); returning 0.0")
        return 0.0
    # CKA is invariant to translation and to an isotropic scale of X or Y (the rbf bandwidth follows the
    # median distance): centre accurately, then work at unit scale
    Xc, Yc = _centered(X), _centered(Y)
    if kernel == "linear":
        xy, xx, yy, scale_x, scale_y = _linear_hsics(Xc, Yc, debiased, gram)
        return _cka_ratio(xy, xx, yy, "cka", scale_x, scale_y)
    t = 1.0 if sigma is None else float(sigma)
    K = _gram_rbf(Xc, t)
    del Xc
    L = _gram_rbf(Yc, t)
    del Yc
    hsic = _hsic_unbiased if debiased else _hsic_biased
    return _cka_ratio(hsic(K, L), hsic(K, K), hsic(L, L), "cka", float(np.vdot(K, K)) / (n * n),
                      float(np.vdot(L, L)) / (n * n))


def kernel_alignment(K1, K2, *, centered=False):
    """Kernel-target alignment ⟨K1, K2⟩_F / (‖K1‖_F ‖K2‖_F) of two n×n kernels (Cristianini et al. 2001).

    Typical use: K1 = representation kernel X Xᵀ, K2 = label kernel Y Yᵀ (one-hot Y). centered=True
    double-centres both first (HKH), which equals biased linear CKA when K = X Xᵀ. Zero norm gives 0.0
    with a DegenerateMetricWarning.
    """
    return alignment(K1, K2, kind="centered" if centered else "cosine")


class MinibatchCKA:
    """Streaming linear CKA of every (x layer, y layer) pair over minibatches (Nguyen, Raghu & Kornblith 2021).

    Each ``update(list_of_X, list_of_Y)`` takes one batch of the same n >= 4 samples through every layer
    (X_i of shape (n, p_i), Y_j of shape (n, q_j)) and adds the unbiased HSIC_1 of every pair and every
    layer with itself; ``result()`` returns the (n_layers_x, n_layers_y) matrix
    mean HSIC(X_i, Y_j) / sqrt(mean HSIC(X_i, X_i) mean HSIC(Y_j, Y_j)) — the averages are taken
    separately, then combined. Only scalars are kept between batches. Layers may differ in width.
    Each batch is centred accurately first (HSIC_1 depends on differences of samples only), so a common
    offset changes nothing. An averaged self-HSIC that is <= 0 up to rounding (<= 1e-12 x the mean
    squared entry of the centred kernels) gives 0.0 for its row/column with a DegenerateMetricWarning.
    """

    def __init__(self, n_layers_x, n_layers_y):
        for v, name in ((n_layers_x, "n_layers_x"), (n_layers_y, "n_layers_y")):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        _need(8 * (int(n_layers_x) + 2) * (int(n_layers_y) + 2), f"MinibatchCKA of {n_layers_x:,} x {n_layers_y:,} "
              "layers", "compare fewer layers")
        self.n_layers_x, self.n_layers_y = int(n_layers_x), int(n_layers_y)
        self._xy = np.zeros((self.n_layers_x, self.n_layers_y))
        self._xx = np.zeros(self.n_layers_x)
        self._yy = np.zeros(self.n_layers_y)
        self._scale_x = np.zeros(self.n_layers_x)  # sums of mean squared centred-kernel entries (degeneracy scale)
        self._scale_y = np.zeros(self.n_layers_y)
        self.n_batches = 0

    def update(self, list_of_X, list_of_Y):
        if not isinstance(list_of_X, (list, tuple)) or not isinstance(list_of_Y, (list, tuple)):
            raise TypeError("list_of_X and list_of_Y must be lists (one array per layer)")
        if len(list_of_X) != self.n_layers_x or len(list_of_Y) != self.n_layers_y:
            raise ValueError(f"expected {self.n_layers_x} X layers and {self.n_layers_y} Y layers, "
                             f"got {len(list_of_X)} and {len(list_of_Y)}")
        Xs = [_samples(X, f"X[{i}]") for i, X in enumerate(list_of_X)]
        Ys = [_samples(Y, f"Y[{j}]") for j, Y in enumerate(list_of_Y)]
        n = Xs[0].shape[0]
        if any(M.shape[0] != n for M in Xs + Ys):
            raise ValueError("every layer of a batch must have the same number of samples")
        if n < 4:
            raise ValueError(f"the unbiased HSIC needs batches of at least 4 samples, got {n}")
        width = sum(M.shape[1] for M in Xs + Ys)
        _need(8 * (n * n * (len(Xs) + len(Ys) + 3) + n * width), f"a MinibatchCKA update of {len(Xs) + len(Ys)} "
              f"layers with batches of {n:,} samples ({n:,} x {n:,} kernel per layer)", "use smaller batches")
        # HSIC_1 of a batch is invariant to translating that batch's features (it depends on differences
        # x_i - x_j only), so each batch is centred accurately first: an offset then costs no digits and does
        # not reach the degeneracy scale. Batches are averaged as they are, so no per-batch rescaling: refuse
        # centred magnitudes whose fourth powers (HSIC) leave the float64 range.
        Xs = [_centered(M, unit=False) for M in Xs]
        Ys = [_centered(M, unit=False) for M in Ys]
        for M, name in [(X, f"X[{i}]") for i, X in enumerate(Xs)] + [(Y, f"Y[{j}]") for j, Y in enumerate(Ys)]:
            top = max(float(M.max()), -float(M.min()))
            if top > 1e60 or 0 < top < 1e-60:
                raise ValueError(f"{name} has centred entries of magnitude {top:.1e}: HSIC (4th powers) leaves the "
                                 "float64 range; multiply every batch of this layer by one common factor first")
        Ks = [X @ X.T for X in Xs]
        Ls = [Y @ Y.T for Y in Ys]
        xy = np.array([[_hsic_unbiased(K, L) for L in Ls] for K in Ks])
        self._xy += xy
        self._xx += [_hsic_unbiased(K, K) for K in Ks]
        self._yy += [_hsic_unbiased(L, L) for L in Ls]
        self._scale_x += [float(np.vdot(K, K)) / (n * n) for K in Ks]
        self._scale_y += [float(np.vdot(L, L)) / (n * n) for L in Ls]
        self.n_batches += 1
        return self

    def result(self):
        if self.n_batches == 0:
            raise ValueError("MinibatchCKA.result() before any update()")
        xx, yy = self._xx / self.n_batches, self._yy / self.n_batches
        bad_x = xx <= _DEGENERATE_RTOL * self._scale_x / self.n_batches
        bad_y = yy <= _DEGENERATE_RTOL * self._scale_y / self.n_batches
        if bad_x.any() or bad_y.any():
            _warn("MinibatchCKA: a layer's mean self-HSIC is <= 0 up to rounding (constant layer, or too few or "
                  "degenerate samples); its CKA entries are 0.0")
        denom = np.sqrt(np.outer(np.where(bad_x, 1.0, xx), np.where(bad_y, 1.0, yy)))
        out = (self._xy / self.n_batches) / denom
        out[bad_x, :] = 0.0
        out[:, bad_y] = 0.0
        return out


# --------------------------------------------------------------------------------------------------
# neural collapse
@dataclasses.dataclass(frozen=True)
class NeuralCollapse:
    """Neural-collapse statistics (Papyan, Han & Donoho 2020); all → 0 under perfect collapse.

    nc1 : Tr(Σ_W Σ_B⁺) / C (within-class variability relative to between-class).
    nc2_equinorm_means : std/mean of ‖μ_c - μ_G‖.  nc2_equinorm_weights : std/mean of ‖w_c‖ (None without W).
    nc2_equiangular : Σ_{c≠c'} |cos(μ̃_c, μ̃_c') + 1/(C-1)| / (C(C-1)).
    nc2_etf_distance : ‖M̃ᵀM̃/‖M̃ᵀM̃‖_F - (I - 11ᵀ/C)/√(C-1)‖_F.
    nc3 : ‖Wᵀ/‖W‖_F - M̃/‖M̃‖_F‖²_F (None without W).
    nc4 : fraction of samples whose classifier argmax differs from the nearest class mean (None without W).
    """
    nc1: float
    nc2_equinorm_means: float
    nc2_equinorm_weights: float | None
    nc2_equiangular: float
    nc2_etf_distance: float
    nc3: float | None
    nc4: float | None
    n_classes: int


def _cov_ratio(v, what):
    m = float(v.mean())
    if m == 0.0:
        _warn(f"neural_collapse: all {what} norms are 0; equinorm returns 0.0")
        return 0.0
    return float(v.std() / m)


def neural_collapse(H, labels, W=None, b=None):
    """NC1-NC4 of features H (n, p) with integer class labels (n,), optional classifier W (C, p), b (C,).

    Class means μ_c over the samples of each class, μ_G = mean of the class means (classes weighted
    equally), M̃ = [μ_c - μ_G] (p, C). Σ_W = (1/n) Σ_i (h_i - μ_{y_i})(h_i - μ_{y_i})ᵀ (population
    covariance, all samples), Σ_B = M̃ M̃ᵀ / C, pseudo-inverse from the SVD of M̃: at most C - 1 directions
    (the rank of Σ_B), eigenvalues <= 1e-15 x the largest dropped (NumPy's pinv cut-off).
    NC1-NC3 are invariant to translating H (computed on H centred accurately, so an offset far above the
    spread costs only the digits the offset data themselves lack); NC4 compares argmax(W h + b) with the
    nearest class mean, so translating H by o leaves it unchanged only when b becomes b - W o.
    Labels are mapped to classes in sorted order (row c of W is the c-th smallest label). Needs C >= 2.
    All class means equal (Σ_B = 0) gives nc1 = inf (0.0 when Σ_W = 0 too) with a DegenerateMetricWarning.
    """
    # NC1-NC3 are invariant to a positive scale of H or W, NC4 too when b scales with both: unit scales keep
    # the products in range
    H = _samples(H, "H")
    labels = np.asarray(labels)
    if labels.shape != (H.shape[0],):
        raise ValueError(f"labels must have shape ({H.shape[0]},), got {labels.shape}")
    if labels.dtype.kind == "f":
        if not (np.isfinite(labels).all() and np.all(labels == np.round(labels))):
            raise ValueError("labels must be integers (class indices); got non-integer or non-finite floats")
    elif labels.dtype.kind not in "biuU":
        raise TypeError(f"labels must be integers (or strings), got dtype {labels.dtype}")
    classes, y = np.unique(labels, return_inverse=True)
    y = y.reshape(-1)
    C = len(classes)
    if C < 2:
        raise ValueError("neural_collapse needs at least 2 classes")
    n, p = H.shape
    # centred copy of H, within-class residuals (and a temporary), their projections on Σ_B's range, class
    # means, M̃ and its SVD, class-mean Gram matrices; with W the (n, C, p) distances of every sample to
    # every class mean (NC4)
    _need(8 * (3 * n * p + n * C + 4 * C * p + 4 * C * C + (n * C * p if W is not None else 0)),
          f"neural collapse of {n:,} samples, {p:,} features and {C:,} classes",
          "use fewer samples or features (subsample them)")
    # NC1-NC3 are invariant to translating H: centre H on its global mean accurately (at unit scale, two
    # passes, as in _centered), then bring the centred data to unit scale; an offset far above the spread
    # would otherwise leave rounding noise in the class means that Σ_B's pseudo-inverse amplifies.
    # H = 2^exp0 (mu + mu2) + 2^(exp0 + exp1) Hc; NC4's logits get the mean's part back through the bias.
    exp0 = _unit_exponent(H)
    H = np.ldexp(H, -exp0)
    mu = H.mean(axis=0)
    H -= mu
    mu2 = H.mean(axis=0)
    H -= mu2
    exp1 = _unit_exponent(H)
    H = np.ldexp(H, -exp1, out=H)
    counts = np.bincount(y, minlength=C).astype(np.float64)
    means = np.zeros((C, H.shape[1]))
    np.add.at(means, y, H)
    means /= counts[:, None]
    mu_g = means.mean(axis=0)
    Mt = (means - mu_g).T  # (p, C)
    within = H - means[y]
    if not np.any(Mt):
        tw = float(np.vdot(within, within))
        _warn("neural_collapse: all class means coincide (Σ_B = 0); NC1 is " + ("inf" if tw > 0 else "0.0"))
        nc1 = math.inf if tw > 0 else 0.0
    else:
        # Σ_B = M̃ M̃ᵀ / C = U diag(s² / C) Uᵀ. The columns of M̃ sum to 0, so its rank is at most C - 1: the
        # C-th singular value is rounding and is dropped whatever its size, the rest with NumPy's pinv cut-off
        # (1e-15 of the largest eigenvalue). Tr(Σ_W Σ_B⁺) = Σ_k ‖within u_k‖² / (n λ_k): no p x p matrix.
        U, sv, _ = np.linalg.svd(Mt, full_matrices=False)
        lam = sv * sv / C
        keep = lam > 1e-15 * lam[0]
        keep[C - 1:] = False
        proj = within @ U[:, keep]
        nc1 = float((np.einsum("ij,ij->j", proj, proj) / (n * lam[keep])).sum()) / C
    norms = np.linalg.norm(Mt, axis=0)
    nc2_means = _cov_ratio(norms, "centred class-mean")
    if np.any(norms == 0):
        _warn("neural_collapse: a centred class mean is 0; its cosines are taken as 0")
    unit = Mt / np.where(norms == 0, 1.0, norms)
    cos = unit.T @ unit
    off = ~np.eye(C, dtype=bool)
    nc2_angle = float(np.abs(cos[off] + 1.0 / (C - 1)).sum()) / (C * (C - 1))
    gram = Mt.T @ Mt
    gnorm = float(np.linalg.norm(gram))
    etf = (np.eye(C) - np.ones((C, C)) / C) / math.sqrt(C - 1)
    nc2_etf = float(np.linalg.norm((gram / gnorm if gnorm > 0 else gram) - etf))
    nc2_w = nc3 = nc4 = None
    if W is not None:
        W = _matrix(W, "W")
        if W.shape != (C, H.shape[1]):
            raise ValueError(f"W must have shape ({C}, {H.shape[1]}) (classes, features), got {W.shape}")
        exp_w = _unit_exponent(W)
        W = np.ldexp(W, -exp_w)  # a new array: the caller's W is not modified
        nc2_w = _cov_ratio(np.linalg.norm(W, axis=1), "classifier row")
        wn, mn = float(np.linalg.norm(W)), float(np.linalg.norm(Mt))
        if wn == 0 or mn == 0:
            _warn("neural_collapse: W or M̃ is zero; NC3 compares the non-zero one with 0")
        nc3 = float(np.linalg.norm(W.T / (wn or 1.0) - Mt / (mn or 1.0)) ** 2)
        # logits of the original H: W h + b = 2^(exp_w + exp0 + exp1) (Wu hc + 2^-exp1 Wu (mu + mu2) + b'),
        # Wu = W at unit scale, b' = b 2^-(exp_w + exp0 + exp1)
        shift = np.ldexp(W @ mu + W @ mu2, -exp1)
        if b is not None:
            b = _real(b, "b")
            if b.shape != (C,):
                raise ValueError(f"b must have shape ({C},), got {b.shape}")
            if not np.isfinite(b).all():
                raise ValueError("b contains NaN or infinity")
            with np.errstate(over="ignore", under="ignore"):  # a bias beyond every logit stays decisive as ±inf
                shift = shift + np.ldexp(b, -exp0 - exp1 - exp_w)
        logits = H @ W.T + shift
        d2 = ((H[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
        nc4 = float(np.mean(logits.argmax(axis=1) != d2.argmin(axis=1)))
    return NeuralCollapse(nc1=nc1, nc2_equinorm_means=nc2_means, nc2_equinorm_weights=nc2_w,
                          nc2_equiangular=nc2_angle, nc2_etf_distance=nc2_etf, nc3=nc3, nc4=nc4, n_classes=C)


# --------------------------------------------------------------------------------------------------
# neural feature ansatz, spectra, ranks
def _psd_power(M, power):
    ev, V = np.linalg.eigh((M + M.T) / 2)
    ev = np.clip(ev, 0.0, None)  # AGOP is PSD; tiny negative rounding would break fractional powers
    if ev.max() > 0:
        ev = ev / ev.max()  # a positive scale of the result changes no correlation; powers of [0, 1] stay finite
    return (V * ev ** power) @ V.T


def nfa_correlation(W, agop, *, power=1.0):
    """Neural feature ansatz: Pearson correlation of the entries of WᵀW and AGOP^power.

    W is (out, in); agop = E[∇_x f ∇_x fᵀ] is (in, in) — a matrix or a CovarianceAccumulator fed with
    per-sample input gradients (its uncentred second moment is used). power=0.5 compares with the
    AGOP's square root, as Radhakrishnan et al. also report (negative eigenvalues from rounding are
    clipped to 0 before the power). Same degenerate-input rules as :func:`alignment`.
    """
    power = _checks.real("power", power, lo=0.0, lo_open=True, what="a finite number > 0 (1 or 0.5, usually)")
    W = _matrix(W, "W", scale_free=True)  # the Pearson correlation is invariant to positive scales
    agop = _matrix(agop, "agop", square=True, scale_free=True)
    if agop.shape[0] != W.shape[1]:
        raise ValueError(f"agop must be ({W.shape[1]}, {W.shape[1]}) for W of shape {W.shape}, got {agop.shape}")
    d = agop.shape[0]
    _need(8 * 8 * d * d, f"the NFA correlation of {d:,} x {d:,} matrices", "use smaller matrices")
    target = agop if power == 1.0 else _psd_power(agop, float(power))
    return alignment(W.T @ W, target, kind="pearson")


def _svd_memory(m, n, center=False):
    """LAPACK's divide-and-conquer SVD without vectors: a copy of the matrix and O(min(m, n)^2) work space
    (and the centred copy with center=True)."""
    k = min(m, n)
    _need(8 * ((3 if center else 2) * m * n + 8 * k * k + 8 * max(m, n)),
          f"the singular values of a {m:,} x {n:,} matrix",
          "use a smaller matrix")


def _singular_values(M, center=False):
    """Singular values of M reshaped to (shape[0], -1), computed at unit scale (no overflow or underflow in
    LAPACK) and scaled back; center=True: of M with its columns centred (accurately, see _centered), at
    unit scale (for scale-free uses)."""
    if M.size == 0:
        raise ValueError(f"the matrix is empty (shape {M.shape}); pass at least one row and one column")
    _svd_memory(M.shape[0], M.size // max(M.shape[0], 1), center)
    if not _all_finite(M):
        raise ValueError("the matrix contains NaN or infinity")
    M = M.reshape(M.shape[0], -1)
    if center:
        M = _centered(M)
    top = max(float(M.max()), -float(M.min())) if M.size else 0.0
    if top == 0.0:
        return np.zeros(min(M.shape))
    with np.errstate(over="ignore"):
        s = np.linalg.svd(M / top, compute_uv=False) * top
    if not np.isfinite(s).all():
        raise ValueError("the singular values overflow float64 (entries near 1e308); rescale the matrix")
    return s


def weight_spectra(weights):
    """Singular values (descending, float64) of each weight matrix.

    ``weights``: one matrix, a list of matrices, or a dict name -> matrix (e.g. ``dict(model.named_parameters())``
    filtered to 2-D weights); the result has the same container shape. Tensors with more than 2 dims are
    flattened to (shape[0], -1) (conv kernels: out channels × the rest).
    """
    def sv(M):
        M = _real(M.detach().cpu().numpy() if hasattr(M, "detach") else M, "a weight matrix")
        if M.ndim < 2:
            raise ValueError(f"weight matrices must be at least 2-D, got shape {M.shape}")
        return _singular_values(M)

    if isinstance(weights, dict):
        return {k: sv(v) for k, v in weights.items()}
    if isinstance(weights, (list, tuple)):
        return [sv(v) for v in weights]
    return sv(weights)


def effective_rank(M, *, method="entropy", tol=1e-3):
    """Effective rank of a matrix (from its singular values) or of a 1-D array of singular values.

    method="entropy" (Roy & Vetterli 2007): exp(-Σ p_i log p_i), p = σ / Σσ.
    method="stable": ‖M‖²_F / ‖M‖²_2 = Σσ² / σ_max².
    method="participation": (Σλ)² / Σλ², the participation ratio of the covariance eigenvalues λ. A matrix
        is a representation, rows = samples: its columns are centred first (λ ∝ σ² of the centred matrix,
        so the result is translation invariant); a 1-D array is taken as the singular values of an
        already centred representation (λ = σ²).
    method="threshold": number of σ > tol · σ_max — a numerical estimate of the bottleneck rank of the
        weights of a deep network trained with weight decay (tol is relative; default 1e-3).
    Only "participation" centres; "entropy", "stable" and "threshold" use the singular values of the matrix
    as given (weight matrices are not centred). Matrices with more than 2 dims are flattened to
    (shape[0], -1). A zero matrix (or a constant representation, for "participation") has effective rank
    0.0 (with a DegenerateMetricWarning); an empty input raises ValueError.
    """
    if method not in ("entropy", "stable", "participation", "threshold"):
        raise ValueError(f"method must be 'entropy', 'stable', 'participation' or 'threshold', got {method!r}")
    if method == "threshold":
        tol = _checks.real("tol", tol, lo=0.0, hi=1.0, hi_open=True,
                           what="a number in [0, 1) (relative to the largest singular value)")
    s = _real(M, "M")
    if s.ndim == 0:
        raise ValueError("effective_rank needs a matrix or a 1-D array of singular values, got a scalar")
    if s.size == 0:
        raise ValueError(f"effective_rank of an empty input (shape {s.shape}): pass a non-empty matrix or 1-D "
                         "array of singular values")
    if s.ndim >= 2:
        _svd_memory(s.shape[0], s.size // max(s.shape[0], 1), method == "participation")
    if not _all_finite(s):
        raise ValueError("effective_rank: input contains NaN or infinity")
    s = np.abs(s) if s.ndim == 1 else _singular_values(s, center=(method == "participation"))
    if s.max() > 0:
        s = s / s.max()  # every effective rank is invariant to the scale of the spectrum
    if s.max() == 0:
        _warn("effective_rank of a zero matrix" + (" (or a constant representation)" if method == "participation"
                                                    else "") + ": returning 0.0")
        return 0.0
    if method == "entropy":
        p = s / s.sum()
        p = p[p > 0]
        return float(np.exp(-(p * np.log(p)).sum()))
    if method == "stable":
        return float((s ** 2).sum() / s.max() ** 2)
    if method == "participation":
        lam = s ** 2
        return float(lam.sum() ** 2 / (lam ** 2).sum())
    if method == "threshold":
        return float(np.count_nonzero(s > tol * s.max()))
    raise ValueError(f"method must be 'entropy', 'stable', 'participation' or 'threshold', got {method!r}")

"""Driver for adelie's convex ReLU group lasso, run by bench/bench_convex_relu.py in a separate interpreter
(adelie needs numpy < 2). Reads an .npz (X with its bias column, y, patterns (P, N) bool, beta, tols), solves

    min 1/(2N) ||y - [D_1 X ... D_P X, -D_1 X ... -D_P X] b||^2 + (beta / N) sum_g ||b_g||
    s.t. (2 D_i - I) X b_g >= 0 for both groups of pattern i

(netmirror's problem divided by N) once per tolerance with adelie.grpnet (matrix.convex_relu, one linear
constraint per group, unit penalty factors, no intercept, the single lambda = beta / N), and writes the
coefficients (2P, k), wall times and the inner tolerance used to the output .npz. The linear constraints'
pinball solver stops at its iteration limit on these cones at its default tolerance (1e-7: the solve then
returns no solution, or raises from solve_zero()), so each fit takes the tightest of 1e-7, 1e-6, 1e-5, 1e-4
that returns one; NaN coefficients when none does.
Usage: python adelie_convex_relu.py IN.npz OUT.npz
"""
import logging
import sys
import time

import numpy as np

import adelie as ad


def solve(X, y, patterns, beta, tol, pinball_tol):
    n, k = X.shape
    P = patterns.shape[0]
    mask = np.asfortranarray(patterns.T.astype(bool))
    A = ad.matrix.convex_relu(np.asfortranarray(X), mask)
    constraints = []
    for _ in range(2):  # v groups, then w groups: the same cones
        for i in range(P):
            G = np.where(patterns[i], 1.0, -1.0)[:, None] * X       # (2 D_i - I) X b >= 0  <=>  -G b <= 0
            constraints.append(ad.constraint.linear(-G, np.full(n, -1e10), np.zeros(n), copy=True,
                                                    configs={"pinball_tol": pinball_tol}))
    groups = np.arange(0, 2 * P * k, k)
    state = ad.grpnet(A, ad.glm.gaussian(y), constraints=constraints, groups=groups,
                      penalty=np.ones(2 * P), lmda_path=np.array([beta / n]), intercept=False, tol=tol,
                      early_exit=False, adev_tol=1.0, ddev_tol=0.0, progress_bar=False, n_threads=1)
    if state.betas.shape[0] == 0:
        return None  # the constraint's inner (pinball) solver stopped at its iteration limit
    return np.asarray(state.betas[-1].todense()).reshape(2 * P, k)


def main():
    data = np.load(sys.argv[1])
    X, y, patterns, beta = data["X"], data["y"], data["patterns"], float(data["beta"])
    logging.getLogger().setLevel(logging.CRITICAL)  # the pinball solver's "max iterations reached" lines
    coefs, times, inner = [], [], []
    for tol in data["tols"]:
        t0 = time.perf_counter()
        for pinball_tol in (1e-7, 1e-6, 1e-5, 1e-4):
            try:
                coef = solve(X, y, patterns, beta, float(tol), pinball_tol)
            except RuntimeError:  # "exception raised in constraint->solve_zero()": try a looser inner tolerance
                coef = None
            if coef is not None:
                break
        times.append(time.perf_counter() - t0)
        coefs.append(coef if coef is not None else np.full((2 * patterns.shape[0], X.shape[1]), np.nan))
        inner.append(pinball_tol if coef is not None else np.nan)
    np.savez(sys.argv[2], coefs=np.array(coefs), times=np.array(times), pinball_tol=np.array(inner))


if __name__ == "__main__":
    main()

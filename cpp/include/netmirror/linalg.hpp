// Small dense linear algebra for the Lasso: a QR factorization updated one column at a time (the exact
// finish's support solves) and a small SPD solve (dual extrapolation). Column-major, no external BLAS/LAPACK.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace netmirror {

// Thin QR of a growing and shrinking set of columns, A_F = Q R (Q: n x f orthonormal, R: f x f upper
// triangular), for active-set methods whose column set changes by one at a time: appending is O(n f)
// (classical Gram-Schmidt, twice: keeps Q orthogonal to rounding), removing is O(f^2 + n f) (Givens).
// A column within `rtol` (relative to the largest column norm seen) of the span is refused: the
// caller keeps it out of the solve, like a column beyond the rank of a pivoted QR.
class UpdatedQR {
public:
    void reset(int64_t rows, int64_t capacity) {
        n_ = rows;
        cap_ = std::min(rows, capacity);
        f_ = 0;
        max_norm_ = 0.0;
        q_.assign(static_cast<size_t>(n_ * cap_), 0.0);
        r_.assign(static_cast<size_t>(cap_ * cap_), 0.0);
        w_.resize(static_cast<size_t>(cap_));
    }
    int64_t size() const { return f_; }
    // No column can be appended any more (capacity reached: the caller's bound on the rank).
    bool full() const { return f_ == cap_; }

    // Appends column a (length n); false (nothing changed) if it is numerically in the span. `dist`
    // receives its distance to the span of the previous columns.
    bool append(const double* a, double rtol, double& dist) {
        dist = 0.0;
        double anorm = 0.0;
        for (int64_t i = 0; i < n_; ++i) anorm += a[i] * a[i];
        anorm = std::sqrt(anorm);
        if (f_ == cap_ || !(anorm > 0.0)) return false;
        double* q = q_.data() + f_ * n_;
        double* rc = r_.data() + f_ * cap_;
        std::copy_n(a, n_, q);
        std::fill_n(rc, f_, 0.0);
        for (int pass = 0; pass < 2; ++pass) {
            for (int64_t k = 0; k < f_; ++k) w_[k] = dot4(q_.data() + k * n_, q, n_);
            for (int64_t k = 0; k < f_; ++k) {
                const double* qk = q_.data() + k * n_;
                const double wk = w_[k];
                for (int64_t i = 0; i < n_; ++i) q[i] -= wk * qk[i];
                rc[k] += wk;
            }
        }
        const double rho = std::sqrt(dot4(q, q, n_));
        dist = rho;
        if (!(rho > threshold(rtol, anorm))) return false;
        max_norm_ = std::max(max_norm_, anorm);
        for (int64_t i = 0; i < n_; ++i) q[i] /= rho;
        rc[f_] = rho;
        ++f_;
        return true;
    }

    // Smallest distance to the span at which a column of norm `anorm` is accepted.
    double threshold(double rtol, double anorm) const { return rtol * std::max(max_norm_, anorm); }

    // Removes the column at position p (later columns move up one). Afterwards dropped() is the unit
    // direction the span lost: a refused column's distance to the span grows by its component along it.
    void remove(int64_t p) {
        for (int64_t j = p; j + 1 < f_; ++j) std::copy_n(r_.data() + (j + 1) * cap_, j + 2, r_.data() + j * cap_);
        // Columns p..f-2 now carry one subdiagonal entry each: rotate rows (j, j+1) of R, columns of Q.
        for (int64_t j = p; j + 1 < f_; ++j) {
            const double a = at(j, j), b = at(j + 1, j);
            const double h = std::hypot(a, b);
            if (h == 0.0) continue;
            const double c = a / h, s = b / h;
            for (int64_t l = j; l + 1 < f_; ++l) {
                const double x = at(j, l), y = at(j + 1, l);
                ref(j, l) = c * x + s * y;
                ref(j + 1, l) = -s * x + c * y;
            }
            ref(j + 1, j) = 0.0;
            double* qa = q_.data() + j * n_;
            double* qb = q_.data() + (j + 1) * n_;
            for (int64_t i = 0; i < n_; ++i) {
                const double x = qa[i], y = qb[i];
                qa[i] = c * x + s * y;
                qb[i] = -s * x + c * y;
            }
        }
        --f_;
    }

    const double* dropped() const { return q_.data() + f_ * n_; }      // valid until the next append
    const double* newest() const { return q_.data() + (f_ - 1) * n_; }  // after a successful append

    // out[k] = q_k^T b, k < f.
    void qt(const double* b, double* out) const {
        for (int64_t k = 0; k < f_; ++k) out[k] = dot4(q_.data() + k * n_, b, n_);
    }
    // out = Q c (c of length f).
    void q_mul(const double* c, double* out) const {
        std::fill_n(out, n_, 0.0);
        for (int64_t k = 0; k < f_; ++k) {
            const double* qk = q_.data() + k * n_;
            const double ck = c[k];
            for (int64_t i = 0; i < n_; ++i) out[i] += ck * qk[i];
        }
    }
    // x <- R^{-T} x (forward substitution).
    void solve_rt(double* x) const {
        for (int64_t i = 0; i < f_; ++i) {
            double s = x[i];
            const double* ri = r_.data() + i * cap_;
            for (int64_t k = 0; k < i; ++k) s -= ri[k] * x[k];
            x[i] = s / ri[i];
        }
    }
    // x <- R^{-1} x (back substitution).
    void solve_r(double* x) const {
        for (int64_t i = f_ - 1; i >= 0; --i) {
            double s = x[i];
            for (int64_t k = i + 1; k < f_; ++k) s -= at(i, k) * x[k];
            x[i] = s / at(i, i);
        }
    }

private:
    static double dot4(const double* a, const double* b, int64_t n) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
            s0 += a[i] * b[i];
            s1 += a[i + 1] * b[i + 1];
            s2 += a[i + 2] * b[i + 2];
            s3 += a[i + 3] * b[i + 3];
        }
        for (; i < n; ++i) s0 += a[i] * b[i];
        return (s0 + s1) + (s2 + s3);
    }

    int64_t n_ = 0, cap_ = 0, f_ = 0;
    double max_norm_ = 0.0;
    std::vector<double> q_, r_, w_;  // Q column-major n x cap; R column-major cap x cap
    double at(int64_t i, int64_t j) const { return r_[static_cast<size_t>(j * cap_ + i)]; }
    double& ref(int64_t i, int64_t j) { return r_[static_cast<size_t>(j * cap_ + i)]; }
};

// In-place Cholesky M = L L^T of a k x k symmetric matrix (row-major, lower triangle read and written): false
// when a pivot is not above rel times its diagonal entry (not numerically positive definite) or not finite.
inline bool cholesky_lower(double* L, int64_t k, double rel = 0.0) {
    for (int64_t j = 0; j < k; ++j) {
        const double diag = L[j * k + j];
        double d = diag;
        for (int64_t q = 0; q < j; ++q) d -= L[j * k + q] * L[j * k + q];
        if (!(d > rel * diag) || !(d > 0.0) || !std::isfinite(d)) return false;
        d = std::sqrt(d);
        L[j * k + j] = d;
        for (int64_t r = j + 1; r < k; ++r) {
            double s = L[r * k + j];
            for (int64_t q = 0; q < j; ++q) s -= L[r * k + q] * L[j * k + q];
            L[r * k + j] = s / d;
        }
    }
    return true;
}

// x <- (L L^T)^{-1} x for the factor of cholesky_lower.
inline void cholesky_solve(const double* L, int64_t k, double* x) {
    for (int64_t r = 0; r < k; ++r) {
        for (int64_t q = 0; q < r; ++q) x[r] -= L[r * k + q] * x[q];
        x[r] /= L[r * k + r];
    }
    for (int64_t r = k - 1; r >= 0; --r) {
        for (int64_t q = r + 1; q < k; ++q) x[r] -= L[q * k + r] * x[q];
        x[r] /= L[r * k + r];
    }
}

// Solve the k x k system M c = 1 by Cholesky (M symmetric positive semi-definite); false if singular.
inline bool solve_spd_ones(std::vector<double> M, int64_t k, std::vector<double>& c) {
    if (!cholesky_lower(M.data(), k, 1e-14)) return false;
    c.assign(static_cast<size_t>(k), 1.0);
    cholesky_solve(M.data(), k, c.data());
    return true;
}

}  // namespace netmirror

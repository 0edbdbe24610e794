// Small dense linear algebra for the Lasso's exact finish: Householder QR with column pivoting and the
// sign-constrained least-squares solve on a support. Column-major, no external BLAS/LAPACK.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace netmirror {

// QR with column pivoting of the m x n column-major matrix `a` (overwritten): A P = Q R.
// On return R is in the upper triangle, the Householder vectors below it (with tau), perm[k] is the
// original column of pivot k, and rank counts the pivots with |R_kk| > rtol * |R_00|.
struct PivotedQR {
    int64_t m = 0, n = 0, rank = 0;
    std::vector<double> a, tau;
    std::vector<int64_t> perm;

    void factor(int64_t rows, int64_t cols, double rtol) {
        m = rows;
        n = cols;
        tau.assign(static_cast<size_t>(n), 0.0);
        perm.resize(static_cast<size_t>(n));
        std::iota(perm.begin(), perm.end(), int64_t{0});
        std::vector<double> norms(static_cast<size_t>(n));
        for (int64_t j = 0; j < n; ++j) norms[j] = sq_norm(j, 0);
        const int64_t steps = std::min(m, n);
        rank = 0;
        double r00 = 0.0;
        for (int64_t k = 0; k < steps; ++k) {
            // Pivot: the remaining column with the largest trailing norm (recomputed: exact, n is small).
            int64_t best = k;
            double best_norm = -1.0;
            for (int64_t j = k; j < n; ++j) {
                norms[j] = sq_norm(j, k);
                if (norms[j] > best_norm) best_norm = norms[j], best = j;
            }
            if (best != k) {
                std::swap_ranges(col(k), col(k) + m, col(best));
                std::swap(perm[k], perm[best]);
                std::swap(norms[k], norms[best]);
            }
            const double alpha = std::sqrt(std::max(best_norm, 0.0));
            if (k == 0) r00 = alpha;
            if (alpha <= rtol * r00 || alpha == 0.0) break;
            // Householder vector v = x + sign(x0) ||x|| e0, stored with v0 implicit; H = I - tau v v^T.
            double* x = col(k) + k;
            const double beta = x[0] >= 0 ? -alpha : alpha;
            const double v0 = x[0] - beta;
            for (int64_t i = 1; i < m - k; ++i) x[i] /= v0;
            tau[k] = (beta - x[0]) / beta;
            x[0] = beta;
            for (int64_t j = k + 1; j < n; ++j) apply_reflector(k, col(j));
            ++rank;
        }
    }

    // b <- Q^T b (length m).
    void apply_qt(double* b) const {
        for (int64_t k = 0; k < rank; ++k) apply_reflector(k, b);
    }

    // Minimise 1/2 ||b - A z||^2 + sum_k c_k z_k over z supported on the first `rank` pivots:
    // R1^T R1 w = R1^T Q1^T b - c_P  =>  R1 w = Q1^T b - R1^{-T} c_P. Output z in original column order
    // (columns beyond the rank get 0). `qtb` must hold Q^T b.
    void solve_linear_term(const double* qtb, const double* c, double* z) const {
        std::vector<double> v(static_cast<size_t>(rank));
        for (int64_t i = 0; i < rank; ++i) {  // forward substitution with R1^T
            double s = c[perm[i]];
            for (int64_t k = 0; k < i; ++k) s -= at(k, i) * v[k];
            v[i] = s / at(i, i);
        }
        std::vector<double> w(static_cast<size_t>(rank));
        for (int64_t i = rank - 1; i >= 0; --i) {  // back substitution with R1
            double s = qtb[i] - v[i];
            for (int64_t k = i + 1; k < rank; ++k) s -= at(i, k) * w[k];
            w[i] = s / at(i, i);
        }
        for (int64_t j = 0; j < n; ++j) z[j] = 0.0;
        for (int64_t i = 0; i < rank; ++i) z[perm[i]] = w[i];
    }

    double* col(int64_t j) { return a.data() + j * m; }
    const double* col(int64_t j) const { return a.data() + j * m; }
    double at(int64_t i, int64_t j) const { return a[static_cast<size_t>(j * m + i)]; }

private:
    double sq_norm(int64_t j, int64_t from) const {
        const double* c = col(j);
        double s = 0.0;
        for (int64_t i = from; i < m; ++i) s += c[i] * c[i];
        return s;
    }
    void apply_reflector(int64_t k, double* b) const {
        const double* v = col(k) + k;
        double s = b[k];
        for (int64_t i = 1; i < m - k; ++i) s += v[i] * b[k + i];
        s *= tau[k];
        b[k] -= s;
        for (int64_t i = 1; i < m - k; ++i) b[k + i] -= s * v[i];
    }
};

// Solve the k x k system M c = 1 by Cholesky (M symmetric positive semi-definite); false if singular.
inline bool solve_spd_ones(std::vector<double> M, int64_t k, std::vector<double>& c) {
    for (int64_t j = 0; j < k; ++j) {
        double d = M[j * k + j];
        for (int64_t p = 0; p < j; ++p) d -= M[j * k + p] * M[j * k + p];
        if (!(d > 1e-14 * std::abs(M[0]))) return false;
        d = std::sqrt(d);
        M[j * k + j] = d;
        for (int64_t i = j + 1; i < k; ++i) {
            double s = M[i * k + j];
            for (int64_t p = 0; p < j; ++p) s -= M[i * k + p] * M[j * k + p];
            M[i * k + j] = s / d;
        }
    }
    c.assign(static_cast<size_t>(k), 1.0);
    for (int64_t i = 0; i < k; ++i) {
        double s = c[i];
        for (int64_t p = 0; p < i; ++p) s -= M[i * k + p] * c[p];
        c[i] = s / M[i * k + i];
    }
    for (int64_t i = k - 1; i >= 0; --i) {
        double s = c[i];
        for (int64_t p = i + 1; p < k; ++p) s -= M[p * k + i] * c[p];
        c[i] = s / M[i * k + i];
    }
    return true;
}

}  // namespace netmirror

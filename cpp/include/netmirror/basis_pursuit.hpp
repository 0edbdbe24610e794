// The beta -> 0+ limit of the Lasso:  min ||z||_1  subject to  A z + xi 1 = y_hat,
// y_hat the least-squares fit of y by the columns and the intercept (y itself when the columns interpolate).
//
// Solved as a linear program by a primal simplex on the free variables z (cost |z_j|, piecewise linear) with
// column generation: the restricted problem over a working set of columns is solved to optimality, one pass
// over every column prices the rest (|a_j^T u| <= 1 is dual feasibility), the most violated enter, repeat.
// Every basis is primal feasible (z is free), so there is no phase 1: the start is a well-conditioned basis
// chosen by pivoted Gram-Schmidt. The ratio test is the long-step rule of l1 fitting (Barrodale & Roberts
// 1973): basic variables may cross zero, each crossing raises the slope by 2 |w_i|, the step stops where the
// slope turns non-negative. The result is a basic solution: at most rank(P A) nonzeros, with linearly
// independent columns (a vertex of the optimal face).
//
// Rows may carry weights w_i (merged duplicate rows: w_i copies of row i with the group's mean target): the
// quadratic becomes sum_i w_i (.)^2, i.e. rows scaled by sqrt(w_i) and the intercept direction sqrt(w).
// Certificate: u = B^{-T} sign(z_B) rescaled to |A^T P u| <= 1 is dual feasible, D = y_hat^T u <= ||z*||_1.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "matrix.hpp"
#include "parallel.hpp"

namespace netmirror {

// The columns as the sparse-limit solvers see them: x_j = P (sqrt(w) * a_j), P the projection orthogonal to the
// intercept direction sqrt(w) (identity without intercept); correlations x_j^T v for v orthogonal to it.
class WeightedColumns {
public:
    WeightedColumns(const DesignMatrix& A, const double* w, bool fit_intercept, int threads)
        : A_(A), n_(A.rows()), m_(A.cols()), intercept_(fit_intercept),
          threads_(threads > 0 ? threads : default_num_threads()) {
        sq_.assign(static_cast<size_t>(n_), 1.0);
        weighted_ = false;
        if (w)
            for (int64_t i = 0; i < n_; ++i) {
                if (!(w[i] > 0.0)) throw std::invalid_argument("row weights must be positive");
                sq_[i] = std::sqrt(w[i]);
                weighted_ = weighted_ || w[i] != 1.0;
            }
        double e2 = 0.0;
        for (double s : sq_) e2 += s * s;
        e_.resize(static_cast<size_t>(n_));
        for (int64_t i = 0; i < n_; ++i) e_[i] = sq_[i] / std::sqrt(e2);
        mean_.assign(static_cast<size_t>(m_), 0.0);
        norm2_.assign(static_cast<size_t>(m_), 0.0);
        parallel_for(0, m_, threads_, [&](int64_t lo, int64_t hi) {
            std::vector<double> col(static_cast<size_t>(n_));
            for (int64_t j = lo; j < hi; ++j) {
                if (!weighted_) {
                    double mean, csq;
                    A_.column_stats(j, mean, csq);
                    mean_[j] = intercept_ ? mean : 0.0;
                    norm2_[j] = intercept_ ? csq : csq + static_cast<double>(n_) * mean * mean;
                    continue;
                }
                A_.column(j, col.data());
                norm2_[j] = weighted_stats(col.data(), mean_[j]);
            }
        }, 256);
    }

    int64_t rows() const { return n_; }
    int64_t cols() const { return m_; }
    bool usable(int64_t j) const { return norm2_[j] > 0.0; }
    double norm2(int64_t j) const { return norm2_[j]; }
    const std::vector<double>& intercept_direction() const { return e_; }
    bool fit_intercept() const { return intercept_; }
    int threads() const { return threads_; }
    const std::vector<double>& sqrt_weights() const { return sq_; }
    const std::vector<double>& means() const { return mean_; }

    // x_j (length n).
    void column(int64_t j, double* out) const {
        A_.column(j, out);
        if (intercept_) {
            for (int64_t i = 0; i < n_; ++i) out[i] = (out[i] - mean_[j]) * sq_[i];
            project(out);  // removes the rounding left along sqrt(w)
        } else {
            for (int64_t i = 0; i < n_; ++i) out[i] *= sq_[i];
        }
    }

    // v minus its component along the intercept direction (twice: the second pass removes the first's rounding).
    void project(double* v) const {
        if (!intercept_) return;
        for (int pass = 0; pass < 2; ++pass) {
            const double c = dot(e_.data(), v, n_);
            for (int64_t i = 0; i < n_; ++i) v[i] -= c * e_[i];
        }
    }

    // out[k] = x_{idx[k]}^T v for v orthogonal to the intercept direction (columns shifted by their means
    // inside the sums: accurate far from the origin).
    void correlations(const double* v, const int64_t* idx, int64_t count, double* out) const {
        std::vector<double> t(static_cast<size_t>(n_));
        for (int64_t i = 0; i < n_; ++i) t[i] = sq_[i] * v[i];
        parallel_tmul(A_, t.data(), idx, count, out, threads_, intercept_ ? mean_.data() : nullptr);
    }

    // The target in the same space: P (sqrt(w) * y).
    std::vector<double> target(const double* y) const {
        std::vector<double> t(static_cast<size_t>(n_));
        double shift = 0.0;  // centre first (y far from the origin), then project exactly
        if (intercept_) {
            double sw = 0.0;
            for (int64_t i = 0; i < n_; ++i) shift += sq_[i] * sq_[i] * y[i], sw += sq_[i] * sq_[i];
            shift /= sw;
        }
        for (int64_t i = 0; i < n_; ++i) t[i] = (y[i] - shift) * sq_[i];
        project(t.data());
        return t;
    }

private:
    const DesignMatrix& A_;
    int64_t n_, m_;
    bool intercept_, weighted_ = false;
    int threads_;
    std::vector<double> sq_, e_, mean_, norm2_;

    // Weighted mean (when there is an intercept) and squared norm of sqrt(w) * (a - mean); 0 only for a column
    // exactly constant (with intercept) or exactly zero.
    double weighted_stats(const double* a, double& mean) const {
        bool constant = true;
        double sw = 0.0, s = 0.0;
        for (int64_t i = 0; i < n_; ++i) {
            constant = constant && a[i] == a[0];
            sw += sq_[i] * sq_[i];
            s += sq_[i] * sq_[i] * a[i];
        }
        mean = 0.0;
        if (intercept_) {
            if (constant) return mean = a[0], 0.0;
            mean = s / sw;
            double e = 0.0;
            for (int64_t i = 0; i < n_; ++i) e += sq_[i] * sq_[i] * (a[i] - mean);
            mean += e / sw;
        }
        double q = 0.0;
        for (int64_t i = 0; i < n_; ++i) q += sq_[i] * sq_[i] * (a[i] - mean) * (a[i] - mean);
        if (!(q > 0.0) && !(intercept_ && constant)) {
            bool zero = true;
            for (int64_t i = 0; i < n_; ++i) zero = zero && a[i] == 0.0;
            if (!zero) q = std::numeric_limits<double>::min();
        }
        return q;
    }
};

struct BasisPursuitOptions {
    double tol = 1e-10;          // relative: stop when ||z||_1 - D <= tol * ||z||_1
    int64_t max_pivots = 0;      // 0: 50 (n + 10) per restricted solve
    int64_t max_passes = 200;    // pricing passes over every column
    int threads = 0;
    const std::atomic<bool>* stop = nullptr;
};

struct BasisPursuitOutput {
    std::vector<double> coef;    // z (length cols)
    std::vector<double> dual;    // u in the weighted space, dual feasible: |x_j^T u| <= 1, u orthogonal to sqrt(w)
    std::vector<int64_t> basis;  // the basic columns (nonzero or degenerate), at most rank
    double l1 = 0.0, dual_value = 0.0, gap = 0.0, relative_gap = 0.0;
    double infeasibility = 0.0;  // ||P sqrt(w) (A z - y_hat)|| (rounding)
    double residual_norm2 = 0.0; // ||P sqrt(w) (y - y_hat)||^2: 0 when the columns interpolate y
    int64_t rank = 0, pivots = 0, degenerate_pivots = 0, passes = 0;
    bool converged = false, interpolates = true;
};

namespace detail {

// In-place inverse of the row-major k x k matrix M by Gauss-Jordan with partial pivoting; false if singular.
inline bool invert(std::vector<double>& M, int64_t k) {
    std::vector<double> inv(static_cast<size_t>(k * k), 0.0);
    for (int64_t i = 0; i < k; ++i) inv[i * k + i] = 1.0;
    for (int64_t c = 0; c < k; ++c) {
        int64_t p = c;
        for (int64_t r = c + 1; r < k; ++r)
            if (std::abs(M[r * k + c]) > std::abs(M[p * k + c])) p = r;
        if (!(std::abs(M[p * k + c]) > 0.0)) return false;
        if (p != c)
            for (int64_t q = 0; q < k; ++q) std::swap(M[p * k + q], M[c * k + q]), std::swap(inv[p * k + q], inv[c * k + q]);
        const double d = 1.0 / M[c * k + c];
        for (int64_t q = 0; q < k; ++q) M[c * k + q] *= d, inv[c * k + q] *= d;
        for (int64_t r = 0; r < k; ++r) {
            if (r == c) continue;
            const double f = M[r * k + c];
            if (f == 0.0) continue;
            for (int64_t q = 0; q < k; ++q) M[r * k + q] -= f * M[c * k + q], inv[r * k + q] -= f * inv[c * k + q];
        }
    }
    M.swap(inv);
    return true;
}

}  // namespace detail

class BasisPursuit {
public:
    BasisPursuit(const WeightedColumns& X, const double* y, const BasisPursuitOptions& opt)
        : X_(X), opt_(opt), n_(X.rows()), m_(X.cols()) {
        yt_ = X_.target(y);
    }

    BasisPursuitOutput solve() {
        BasisPursuitOutput out;
        out.coef.assign(static_cast<size_t>(m_), 0.0);
        out.dual.assign(static_cast<size_t>(n_), 0.0);
        std::vector<int64_t> usable;
        for (int64_t j = 0; j < m_; ++j)
            if (X_.usable(j)) usable.push_back(j);
        std::vector<double> corr(usable.size());
        X_.correlations(yt_.data(), usable.data(), static_cast<int64_t>(usable.size()), corr.data());
        crash(usable, corr);
        out.rank = rank_;
        out.interpolates = residual2_ == 0.0;
        out.residual_norm2 = residual2_;
        if (rank_ == 0) {  // nothing to fit: z = 0, u = 0
            out.converged = true;
            return out;
        }
        // Column generation: the working set starts as the basis and the columns most correlated with y.
        std::vector<char> in_ws(static_cast<size_t>(m_), 0);
        for (int64_t j : basic_)
            if (j >= 0) in_ws[j] = 1;
        {
            std::vector<std::pair<double, int64_t>> score;
            for (size_t k = 0; k < usable.size(); ++k)
                if (!in_ws[usable[k]]) score.emplace_back(-std::abs(corr[k]) / std::sqrt(X_.norm2(usable[k])), usable[k]);
            const size_t take = std::min(score.size(), static_cast<size_t>(2 * n_ + 16));
            std::partial_sort(score.begin(), score.begin() + static_cast<std::ptrdiff_t>(take), score.end());
            for (size_t k = 0; k < take; ++k) add_to_ws(score[k].second, in_ws);
        }
        for (int64_t j : basic_)
            if (j >= 0 && ws_pos(j) < 0) add_to_ws(j, in_ws);
        std::vector<double> g(usable.size());
        double worst = 0.0;
        for (out.passes = 1; out.passes <= opt_.max_passes; ++out.passes) {
            restricted_simplex(out.pivots, out.degenerate_pivots);
            refactor();
            // Price every column.
            X_.correlations(u_.data(), usable.data(), static_cast<int64_t>(usable.size()), g.data());
            worst = 0.0;
            std::vector<std::pair<double, int64_t>> viol;
            for (size_t k = 0; k < usable.size(); ++k) {
                const double a = std::abs(g[k]);
                worst = std::max(worst, a);
                if (a > 1.0 + kPriceTol && !in_ws[usable[k]]) viol.emplace_back(-(a - 1.0) / std::sqrt(X_.norm2(usable[k])), usable[k]);
            }
            certify(out, worst);
            if (out.converged || viol.empty() || stopped()) break;
            const size_t take = std::min(viol.size(), static_cast<size_t>(std::max<int64_t>(16, n_)));
            std::partial_sort(viol.begin(), viol.begin() + static_cast<std::ptrdiff_t>(take), viol.end());
            for (size_t k = 0; k < take; ++k) add_to_ws(viol[k].second, in_ws);
        }
        out.passes = std::min(out.passes, opt_.max_passes);
        return out;
    }

    const std::vector<double>& target() const { return yt_; }

private:
    const WeightedColumns& X_;
    BasisPursuitOptions opt_;
    int64_t n_, m_, rank_ = 0;
    std::vector<double> yt_;            // P sqrt(w) y, then its projection y_hat on the columns' span
    double residual2_ = 0.0;
    // Basis: n columns of R^n. Entries >= 0 are dictionary columns; -1 - k is the fixed (free, zero-cost) k-th
    // complement vector (the intercept direction and directions outside the columns' span).
    std::vector<int64_t> basic_;
    std::vector<std::vector<double>> fixed_;  // the fixed basis vectors
    std::vector<double> binv_;          // B^{-1}, row-major n x n
    std::vector<double> zb_, sgn_;      // basic values, cost signs (0 for fixed vectors)
    std::vector<double> u_;             // B^{-T} c_B
    std::vector<int64_t> ws_;           // working set
    std::vector<double> wcols_;         // its columns, n each
    std::vector<int64_t> ws_index_;     // column -> position in ws_ (-1)
    int64_t since_refactor_ = 0;
    static constexpr double kPriceTol = 1e-10, kRankTol = 1e-10;  // pricing: the dual value loses up to this, relatively
    // A column this close (relative to its norm) to the span of the crash basis adds no direction: far above the
    // rounding of the projections (1e-15), far below the relative size of real directions in data spread over
    // ten orders of magnitude (x = 0, 1, 1e10: 1e-10).
    static constexpr double kSpanTol = 1e-12;

    bool stopped() const { return opt_.stop && opt_.stop->load(std::memory_order_relaxed); }

    int64_t ws_pos(int64_t j) const { return ws_index_.empty() ? -1 : ws_index_[j]; }

    void add_to_ws(int64_t j, std::vector<char>& in_ws) {
        if (ws_index_.empty()) ws_index_.assign(static_cast<size_t>(m_), -1);
        if (ws_index_[j] >= 0) return;
        in_ws[j] = 1;
        ws_index_[j] = static_cast<int64_t>(ws_.size());
        ws_.push_back(j);
        wcols_.resize(ws_.size() * static_cast<size_t>(n_));
        X_.column(j, wcols_.data() + (ws_.size() - 1) * static_cast<size_t>(n_));
    }

    const double* basis_column(int64_t b, std::vector<double>& buf) const {
        const int64_t j = basic_[b];
        if (j < 0) return fixed_[static_cast<size_t>(-1 - j)].data();
        const int64_t p = ws_pos(j);
        if (p >= 0) return wcols_.data() + p * n_;
        buf.resize(static_cast<size_t>(n_));
        X_.column(j, buf.data());
        return buf.data();
    }

    // A well-conditioned starting basis: pivoted Gram-Schmidt picking, among the columns, the one farthest
    // (relative to its norm) from the span so far; candidates are scanned in order of |x_j^T y| / ||x_j||,
    // a block at a time, until the span is R^n or the columns run out. The span's complement (and the intercept
    // direction) fill the basis as fixed vectors; y is replaced by its projection on the span.
    void crash(const std::vector<int64_t>& usable, const std::vector<double>& corr) {
        std::vector<std::vector<double>> Q;  // orthonormal basis of the span (fixed vectors first)
        if (X_.fit_intercept()) Q.push_back(X_.intercept_direction());
        const int64_t base = static_cast<int64_t>(Q.size());
        std::vector<std::pair<double, int64_t>> order;
        for (size_t k = 0; k < usable.size(); ++k)
            order.emplace_back(-std::abs(corr[k]) / std::sqrt(X_.norm2(usable[k])), usable[k]);
        std::sort(order.begin(), order.end());
        std::vector<int64_t> chosen;
        const size_t block = static_cast<size_t>(std::max<int64_t>(4 * n_, 64));
        for (size_t start = 0; start < order.size() && static_cast<int64_t>(Q.size()) < n_; start += block) {
            const size_t stop = std::min(order.size(), start + block);
            const int64_t c = static_cast<int64_t>(stop - start);
            std::vector<double> R(static_cast<size_t>(c * n_));  // candidates' residuals against Q
            std::vector<double> nrm(static_cast<size_t>(c));
            parallel_for(0, c, X_.threads(), [&](int64_t lo, int64_t hi) {
                for (int64_t k = lo; k < hi; ++k) {
                    double* r = R.data() + k * n_;
                    X_.column(order[start + static_cast<size_t>(k)].second, r);
                    nrm[k] = std::sqrt(dot(r, r, n_));
                    for (int pass = 0; pass < 2; ++pass)
                        for (const auto& q : Q) {
                            const double t = dot(q.data(), r, n_);
                            for (int64_t i = 0; i < n_; ++i) r[i] -= t * q[i];
                        }
                }
            }, 16);
            std::vector<char> taken(static_cast<size_t>(c), 0);
            while (static_cast<int64_t>(Q.size()) < n_) {
                int64_t best = -1;
                double bestv = 0.0;
                for (int64_t k = 0; k < c; ++k) {
                    if (taken[k]) continue;
                    const double d = std::sqrt(dot(R.data() + k * n_, R.data() + k * n_, n_)) / nrm[k];
                    if (d > bestv) bestv = d, best = k;
                }
                if (best < 0 || !(bestv > kSpanTol)) break;
                taken[best] = 1;
                std::vector<double> q(R.data() + best * n_, R.data() + (best + 1) * n_);
                for (int pass = 0; pass < 2; ++pass)
                    for (const auto& p : Q) {
                        const double t = dot(p.data(), q.data(), n_);
                        for (int64_t i = 0; i < n_; ++i) q[i] -= t * p[i];
                    }
                const double qn = std::sqrt(dot(q.data(), q.data(), n_));
                for (double& v : q) v /= qn;
                parallel_for(0, c, X_.threads(), [&](int64_t lo, int64_t hi) {
                    for (int64_t k = lo; k < hi; ++k) {
                        if (taken[k]) continue;
                        double* r = R.data() + k * n_;
                        const double t = dot(q.data(), r, n_);
                        for (int64_t i = 0; i < n_; ++i) r[i] -= t * q[i];
                    }
                }, 64);
                Q.push_back(std::move(q));
                chosen.push_back(order[start + static_cast<size_t>(best)].second);
            }
        }
        rank_ = static_cast<int64_t>(chosen.size());
        // y_hat: the projection of y on span(Q minus the intercept direction, which y is orthogonal to).
        std::vector<double> yhat(static_cast<size_t>(n_), 0.0);
        for (size_t k = static_cast<size_t>(base); k < Q.size(); ++k) {
            const double t = dot(Q[k].data(), yt_.data(), n_);
            for (int64_t i = 0; i < n_; ++i) yhat[i] += t * Q[k][i];
        }
        // Complement of the span: fixed basis vectors (Gram-Schmidt on the unit vectors).
        fixed_.clear();
        for (int64_t k = 0; k < base; ++k) fixed_.push_back(Q[static_cast<size_t>(k)]);
        for (int64_t i = 0; i < n_ && static_cast<int64_t>(Q.size()) < n_; ++i) {
            std::vector<double> q(static_cast<size_t>(n_), 0.0);
            q[i] = 1.0;
            for (int pass = 0; pass < 2; ++pass)
                for (const auto& p : Q) {
                    const double t = dot(p.data(), q.data(), n_);
                    for (int64_t r = 0; r < n_; ++r) q[r] -= t * p[r];
                }
            const double qn = std::sqrt(dot(q.data(), q.data(), n_));
            if (!(qn > 1e-6)) continue;  // unit vectors nearly in the span add nothing
            for (double& v : q) v /= qn;
            Q.push_back(q);
            fixed_.push_back(q);
        }
        if (static_cast<int64_t>(chosen.size()) < n_ - base) {
            residual2_ = 0.0;
            for (int64_t i = 0; i < n_; ++i) residual2_ += (yt_[i] - yhat[i]) * (yt_[i] - yhat[i]);
            yt_.swap(yhat);
        }
        basic_.clear();
        for (size_t k = 0; k < fixed_.size(); ++k) basic_.push_back(-1 - static_cast<int64_t>(k));
        for (int64_t j : chosen) basic_.push_back(j);
        refactor();
    }

    // B^{-1} from scratch, the basic values and the dual.
    void refactor() {
        std::vector<double> B(static_cast<size_t>(n_ * n_)), buf;
        for (int64_t b = 0; b < n_; ++b) {
            const double* col = basis_column(b, buf);
            for (int64_t i = 0; i < n_; ++i) B[i * n_ + b] = col[i];
        }
        if (!detail::invert(B, n_)) throw std::runtime_error("basis pursuit: the basis became singular");
        binv_.swap(B);
        zb_.assign(static_cast<size_t>(n_), 0.0);
        for (int64_t b = 0; b < n_; ++b) zb_[b] = dot(binv_.data() + b * n_, yt_.data(), n_);
        if (sgn_.size() != static_cast<size_t>(n_)) sgn_.assign(static_cast<size_t>(n_), 0.0);
        for (int64_t b = 0; b < n_; ++b) {
            if (basic_[b] < 0) {
                sgn_[b] = 0.0, zb_[b] = 0.0;
                continue;
            }
            // Cost signs are tracked through the crossings; a recomputed value only sets a missing one (a basic
            // value at rounding level of the wrong sign is a degenerate zero, not a crossing).
            if (sgn_[b] == 0.0) sgn_[b] = zb_[b] < 0 ? -1.0 : 1.0;
        }
        dual();
        since_refactor_ = 0;
    }

    void dual() {
        u_.assign(static_cast<size_t>(n_), 0.0);
        for (int64_t b = 0; b < n_; ++b) {
            if (sgn_[b] == 0.0) continue;
            const double* row = binv_.data() + b * n_;
            for (int64_t i = 0; i < n_; ++i) u_[i] += sgn_[b] * row[i];
        }
    }

    // Primal simplex over the working set until no column of it prices out (|x_j^T u| <= 1 + tol).
    void restricted_simplex(int64_t& pivots, int64_t& degenerate) {
        const int64_t cap = opt_.max_pivots > 0 ? opt_.max_pivots : 50 * (n_ + 10);
        std::vector<char> basic_flag;
        std::vector<double> g, w(static_cast<size_t>(n_));
        std::vector<std::pair<double, int64_t>> bps;
        for (int64_t it = 0; it < cap && !stopped(); ++it) {
            const int64_t k = static_cast<int64_t>(ws_.size());
            basic_flag.assign(static_cast<size_t>(k), 0);
            for (int64_t j : basic_)
                if (j >= 0 && ws_pos(j) >= 0) basic_flag[ws_pos(j)] = 1;
            g.resize(static_cast<size_t>(k));
            parallel_for(0, k, X_.threads(), [&](int64_t lo, int64_t hi) {
                for (int64_t p = lo; p < hi; ++p) g[p] = dot(wcols_.data() + p * n_, u_.data(), n_);
            }, 256);
            int64_t enter = -1;
            double best = 0.0;
            for (int64_t p = 0; p < k; ++p) {
                if (basic_flag[p]) continue;
                const double excess = std::abs(g[p]) - 1.0;
                if (excess <= kPriceTol) continue;
                const double score = excess / std::sqrt(X_.norm2(ws_[p]));
                if (score > best) best = score, enter = p;
            }
            if (enter < 0) return;
            const double* xe = wcols_.data() + enter * n_;
            const double sigma = g[enter] > 0 ? 1.0 : -1.0;
            for (int64_t b = 0; b < n_; ++b) w[b] = sigma * dot(binv_.data() + b * n_, xe, n_);
            // Long-step ratio test: z_B(t) = z_B - t w, slope 1 - |g| < 0 rises by 2 |w_b| at each crossing.
            bps.clear();
            for (int64_t b = 0; b < n_; ++b) {
                if (sgn_[b] == 0.0 || w[b] == 0.0) continue;
                if (w[b] * sgn_[b] > 0.0) bps.emplace_back(std::max(0.0, zb_[b] * sgn_[b]) / std::abs(w[b]), b);
            }
            std::sort(bps.begin(), bps.end());
            double slope = 1.0 - std::abs(g[enter]);
            int64_t leave = -1;
            double t = 0.0;
            size_t q = 0;
            for (; q < bps.size(); ++q) {
                slope += 2.0 * std::abs(w[bps[q].second]);
                if (slope >= 0.0) {
                    // Among crossings at (nearly) the same step, leave by the largest pivot |w_b| (stability).
                    t = bps[q].first;
                    leave = bps[q].second;
                    for (size_t r = q + 1; r < bps.size() && bps[r].first <= t * (1.0 + 1e-12); ++r)
                        if (std::abs(w[bps[r].second]) > std::abs(w[leave])) leave = bps[r].second;
                    break;
                }
            }
            if (leave < 0) {  // the objective is bounded below by 0: only rounding gets here
                refactor();
                return;
            }
            for (size_t r = 0; r < q; ++r) sgn_[bps[r].second] = -sgn_[bps[r].second];  // crossed zero
            for (int64_t b = 0; b < n_; ++b) zb_[b] -= t * w[b];
            // Basis change: column `leave` of B becomes x_enter (entering value sigma t, cost sign sigma).
            const double piv = sigma * w[leave];  // w = sigma B^{-1} x_enter: the eta update needs B^{-1} x_enter
            double* rl = binv_.data() + leave * n_;
            for (int64_t i = 0; i < n_; ++i) rl[i] /= piv;
            for (int64_t b = 0; b < n_; ++b) {
                if (b == leave || w[b] == 0.0) continue;
                double* rb = binv_.data() + b * n_;
                const double f = sigma * w[b];
                for (int64_t i = 0; i < n_; ++i) rb[i] -= f * rl[i];
            }
            basic_[leave] = ws_[enter];
            zb_[leave] = sigma * t;
            sgn_[leave] = sigma;
            ++pivots;
            degenerate += t == 0.0;
            if (++since_refactor_ >= 64) refactor();
            else dual();
        }
    }

    void certify(BasisPursuitOutput& out, double worst) {
        std::fill(out.coef.begin(), out.coef.end(), 0.0);
        out.basis.clear();
        double l1 = 0.0;
        std::vector<double> fit(static_cast<size_t>(n_), 0.0), buf;
        for (int64_t b = 0; b < n_; ++b) {
            if (basic_[b] < 0) continue;
            out.basis.push_back(basic_[b]);
            out.coef[basic_[b]] = zb_[b];
            l1 += std::abs(zb_[b]);
            const double* col = basis_column(b, buf);
            for (int64_t i = 0; i < n_; ++i) fit[i] += zb_[b] * col[i];
        }
        double inf2 = 0.0;
        for (int64_t i = 0; i < n_; ++i) inf2 += (yt_[i] - fit[i]) * (yt_[i] - fit[i]);
        // Dual feasible point: u projected on the span's space, scaled into |x_j^T u| <= 1.
        std::vector<double> u = u_;
        for (const auto& f : fixed_) {
            const double t = dot(f.data(), u.data(), n_);
            for (int64_t i = 0; i < n_; ++i) u[i] -= t * f[i];
        }
        const double scale = std::max(1.0, worst);
        for (double& v : u) v /= scale;
        out.dual = u;
        out.l1 = l1;
        out.dual_value = dot(yt_.data(), u.data(), n_);
        out.gap = std::max(0.0, l1 - out.dual_value);
        out.relative_gap = l1 > 0.0 ? out.gap / l1 : 0.0;
        out.infeasibility = std::sqrt(inf2);
        out.converged = out.gap <= opt_.tol * l1;
    }
};

// Solve the beta -> 0+ limit (see the top of this file). w: row weights or null; y length rows.
inline BasisPursuitOutput basis_pursuit(const DesignMatrix& A, const double* y, const double* w, bool fit_intercept,
                                        const BasisPursuitOptions& opt) {
    WeightedColumns X(A, w, fit_intercept, opt.threads);
    BasisPursuit bp(X, y, opt);
    return bp.solve();
}

}  // namespace netmirror

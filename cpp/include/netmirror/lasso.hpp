// Lasso with a free intercept, in sum units:  min_{z, xi} 1/2 ||A z + xi 1 - y||^2 + beta ||z||_1.
//
// Outer loop (celer-style): one full correlation pass A^T r per iteration gives a dual-feasible point,
// the certified duality gap, Gap Safe screening and the working-set priorities. Inner loop: cyclic
// coordinate descent on the working set (columns gathered and centered once), with dual extrapolation
// from the last residuals and an exact finish: once the support and signs repeat, the reduced problem
// (A_S^T P A_S) z_S = A_S^T P y - beta s is solved by a QR factorization updated as columns enter and leave,
// with feature-sign line searches and KKT re-entry, so the gap can fall to rounding level on nearly
// collinear neural-network dictionaries.
//
// The intercept is implicit: columns enter as P a_j (P = I - 11^T/N) through their means, A is never copied.
// Every value that certifies the result (primal, dual, gap) is computed in float64 from scratch.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <vector>

#include "linalg.hpp"
#include "matrix.hpp"
#include "parallel.hpp"

namespace netmirror {

struct LassoOptions {
    double beta = 1.0;
    bool fit_intercept = true;
    double tol = 1e-10;          // relative: stop when gap <= tol * P(0), P(0) = 1/2 ||y - mean(y)||^2
    int64_t max_iter = 500;      // outer iterations (full correlation passes)
    int64_t max_epochs = 20000;  // coordinate-descent epochs per working-set solve
    int64_t ws_start = 16;       // first working-set size
    int threads = 0;             // 0: default_num_threads()
    bool verbose = false;        // one line per outer iteration on stderr
    const std::atomic<bool>* stop = nullptr;  // set from another thread to stop with the best iterate
};

struct LassoOutput {
    std::vector<double> coef, dual;
    double intercept = 0.0, objective = 0.0, gap = 0.0, p0 = 0.0, relative_gap = 0.0;
    int64_t n_iter = 0, n_epochs = 0;
    bool converged = false;
};

namespace detail {

inline double soft_threshold(double u, double t) { return u > t ? u - t : (u < -t ? u + t : 0.0); }

// y - mean(y) (y itself without intercept) by the corrected two-pass formula, accurate even when mean(y) is far
// above y's spread; exactly 0 for an exactly constant y. ybar receives the mean.
inline std::vector<double> centred_target(const double* y, int64_t n, bool fit_intercept, double& ybar) {
    std::vector<double> yc(y, y + n);
    ybar = 0.0;
    if (!fit_intercept || n == 0) return yc;
    bool constant = true;
    for (int64_t i = 0; i < n; ++i) {
        ybar += y[i];
        constant = constant && y[i] == y[0];
    }
    if (constant) {
        ybar = y[0];
        std::fill(yc.begin(), yc.end(), 0.0);
        return yc;
    }
    ybar /= static_cast<double>(n);
    double e = 0.0;
    for (int64_t i = 0; i < n; ++i) e += y[i] - ybar;
    e /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) yc[i] = (y[i] - ybar) - e;
    ybar += e;
    return yc;
}

inline double sq_norm(const std::vector<double>& v) {
    double s = 0.0;
    for (double x : v) s += x * x;
    return s;
}

}  // namespace detail

class LassoSolver {
public:
    LassoSolver(const DesignMatrix& A, const double* y, const LassoOptions& opt)
        : A_(A), opt_(opt), n_(A.rows()), m_(A.cols()) {
        if (!(opt.beta > 0.0)) throw std::invalid_argument("beta must be positive");
        threads_ = opt.threads > 0 ? opt.threads : default_num_threads();
        yc_ = detail::centred_target(y, n_, opt.fit_intercept, ybar_);
        p0_ = 0.5 * detail::sq_norm(yc_);
        column_statistics();
    }

    LassoOutput solve(const double* z0, const double* theta0) {
        LassoOutput out;
        out.p0 = p0_;
        z_.assign(static_cast<size_t>(m_), 0.0);
        if (z0)
            for (int64_t j = 0; j < m_; ++j) z_[j] = usable_[j] ? z0[j] : 0.0;
        if (p0_ == 0.0) {  // constant y: z = 0 is optimal, any theta = 0 certifies it
            z_.assign(static_cast<size_t>(m_), 0.0);
            return finish(out, std::vector<double>(static_cast<size_t>(n_), 0.0), 0.0, 0.0, true);
        }
        const double tol_abs = opt_.tol * p0_;
        std::vector<double> corr(static_cast<size_t>(m_)), corr_extra(static_cast<size_t>(m_));
        corr_best_.assign(static_cast<size_t>(m_), 0.0);
        theta_best_.assign(static_cast<size_t>(n_), 0.0);
        dual_best_ = 0.0;  // theta = 0 is always feasible with D(0) = 0
        std::vector<double> extra;
        if (theta0) extra.assign(theta0, theta0 + n_);
        bool screened_any = false;
        double gap = std::numeric_limits<double>::infinity(), primal = 0.0, prev_gap = gap;
        int64_t ws_size = opt_.ws_start;
        bool converged = false;
        int64_t it = 0;
        for (;; ++it) {  // the last pass only certifies the final iterate
            residual_from_scratch();
            primal = primal_value();
            // Dual candidates: the rescaled residual, then the inner solver's extrapolated point (or warm start).
            full_correlation(r_, corr);
            consider_dual(r_, corr);
            if (!extra.empty()) {
                full_correlation(extra, corr_extra);
                consider_dual(extra, corr_extra);
                extra.clear();
            }
            gap = primal - dual_best_;
            if (opt_.verbose)
                std::fprintf(stderr, "netmirror.lasso: iter %lld  primal %.12e  gap %.3e  (rel %.3e)  active %zu\n",
                             static_cast<long long>(it), primal, gap, gap / p0_, active_.size());
            if (gap <= tol_abs) {
                converged = true;
                break;
            }
            if (it == opt_.max_iter || stopped()) break;
            screened_any |= screen(gap);
            // Working set: the support, then the columns closest to their dual constraint.
            int64_t nnz = 0;
            for (int64_t j : active_) nnz += z_[j] != 0.0;
            // celer's rule (twice the support); grow only if the last outer iteration made no progress.
            ws_size = std::max<int64_t>({opt_.ws_start, 2 * nnz, it > 0 && gap > 0.9 * prev_gap ? 2 * ws_size : 0});
            std::vector<int64_t> ws =
                working_set(corr, std::min<int64_t>(ws_size, static_cast<int64_t>(active_.size())));
            ws_size = static_cast<int64_t>(ws.size());
            prev_gap = gap;
            const int64_t e0 = epochs_;
            inner_solve(ws, std::max(0.3 * gap, 0.5 * tol_abs), extra);
            if (opt_.verbose)
                std::fprintf(stderr, "netmirror.lasso:   working set %lld, %lld epochs, %lld exact-finish rounds (%.3f s)\n",
                             static_cast<long long>(ws_size), static_cast<long long>(epochs_ - e0),
                             static_cast<long long>(exact_rounds_), exact_seconds_);
        }
        out.n_iter = it;
        // Certificate over every column: screening is safe in exact arithmetic; re-check it in floating point.
        if (screened_any) {
            active_.clear();
            for (int64_t j = 0; j < m_; ++j)
                if (usable_[j]) active_.push_back(j);
            std::vector<double> t = theta_best_;
            full_correlation(t, corr);
            dual_best_ = -std::numeric_limits<double>::infinity();
            consider_dual(t, corr);
            residual_from_scratch();
            primal = primal_value();
            gap = primal - dual_best_;
            converged = gap <= tol_abs;
        }
        return finish(out, theta_best_, primal, std::max(gap, 0.0), converged);
    }

private:
    const DesignMatrix& A_;
    LassoOptions opt_;
    int64_t n_, m_;
    int threads_ = 1;
    double ybar_ = 0.0, p0_ = 0.0;
    std::vector<double> yc_, mean_, norm2_, norm_;
    std::vector<char> usable_;      // non-constant columns (constant ones are absorbed by the intercept)
    std::vector<int64_t> active_;   // usable and not screened
    std::vector<double> z_, r_;     // coefficients and centered residual P(y - A z)
    std::vector<double> theta_best_, corr_best_;  // best dual point and its correlations (on active_)
    double dual_best_ = 0.0;
    int64_t epochs_ = 0, exact_rounds_ = 0;
    double exact_seconds_ = 0.0;

    bool stopped() const { return opt_.stop && opt_.stop->load(std::memory_order_relaxed); }

    void column_statistics() {
        mean_.assign(static_cast<size_t>(m_), 0.0);
        norm2_.assign(static_cast<size_t>(m_), 0.0);
        parallel_for(0, m_, threads_, [&](int64_t lo, int64_t hi) {
            for (int64_t j = lo; j < hi; ++j) {
                double mean, csq;
                A_.column_stats(j, mean, csq);
                if (opt_.fit_intercept) {
                    mean_[j] = mean;
                    norm2_[j] = csq;
                } else {
                    norm2_[j] = csq + static_cast<double>(n_) * mean * mean;
                }
            }
        }, 1024);
        norm_.resize(static_cast<size_t>(m_));
        usable_.assign(static_cast<size_t>(m_), 0);
        for (int64_t j = 0; j < m_; ++j) {
            norm_[j] = std::sqrt(norm2_[j]);
            // Only an exactly constant column (centered_sq == 0, two_pass_stats) is absorbed by the intercept:
            // a column of tiny spread against its mean still fits something, and a certificate that ignored
            // it could claim z = 0 optimal when it is not.
            usable_[j] = norm2_[j] > 0.0;
            if (usable_[j]) active_.push_back(j);
        }
    }

    // corr[j] = (P a_j)^T v on active columns; v need not be exactly centered. With an intercept v is
    // centred first and the columns are shifted by their means inside the sums: (a_j - mean_j 1)^T v keeps
    // its digits where a_j^T v - mean_j 1^T v would cancel them (columns far from the origin).
    void full_correlation(const std::vector<double>& v, std::vector<double>& corr) {
        std::vector<double> tmp(active_.size());
        if (!opt_.fit_intercept) {
            parallel_tmul(A_, v.data(), active_.data(), static_cast<int64_t>(active_.size()), tmp.data(), threads_);
        } else {
            std::vector<double> vc(v);
            double vsum = 0.0;
            for (double x : vc) vsum += x;
            for (double& x : vc) x -= vsum / static_cast<double>(n_);
            parallel_tmul(A_, vc.data(), active_.data(), static_cast<int64_t>(active_.size()), tmp.data(), threads_,
                          mean_.data());
        }
        for (size_t k = 0; k < active_.size(); ++k) corr[active_[k]] = tmp[k];
    }

    // theta = v / max(1, ||A^T v||_inf / beta) is dual feasible; keep it if its dual value is the best.
    void consider_dual(const std::vector<double>& v, const std::vector<double>& corr) {
        double cmax = 0.0;
        for (int64_t j : active_) cmax = std::max(cmax, std::abs(corr[j]));
        const double scale = std::max(1.0, cmax / opt_.beta);
        double vsum = 0.0;
        if (opt_.fit_intercept)
            for (double x : v) vsum += x;
        const double shift = vsum / static_cast<double>(n_);  // keep 1^T theta = 0 exactly
        double d = 0.0;
        std::vector<double> theta(static_cast<size_t>(n_));
        for (int64_t i = 0; i < n_; ++i) {
            theta[i] = (v[i] - shift) / scale;
            d += theta[i] * yc_[i] - 0.5 * theta[i] * theta[i];
        }
        if (d > dual_best_) {
            dual_best_ = d;
            theta_best_.swap(theta);
            for (int64_t j : active_) corr_best_[j] = corr[j] / scale;
        }
    }

    // Column j as the solver sees it: P a_j with an intercept (center_column: accurate far from the origin).
    void centred_column(int64_t j, double* out) const {
        A_.column(j, out);
        if (opt_.fit_intercept) center_column(out, n_, mean_[j]);
    }

    void residual_from_scratch() {
        r_ = yc_;
        std::vector<double> col(static_cast<size_t>(n_));
        for (int64_t j = 0; j < m_; ++j) {
            if (z_[j] == 0.0) continue;
            centred_column(j, col.data());
            const double zj = z_[j];
            for (int64_t i = 0; i < n_; ++i) r_[i] -= zj * col[i];
        }
    }

    double primal_value() const {
        double l1 = 0.0;
        for (double v : z_) l1 += std::abs(v);
        return 0.5 * detail::sq_norm(r_) + opt_.beta * l1;
    }

    // Gap Safe rule: |a_j^T theta| + ||P a_j|| sqrt(2 gap) < beta  =>  z*_j = 0.
    bool screen(double gap) {
        const double radius = std::sqrt(2.0 * gap);
        std::vector<int64_t> keep;
        keep.reserve(active_.size());
        bool any = false;
        for (int64_t j : active_) {
            if (std::abs(corr_best_[j]) + norm_[j] * radius < opt_.beta * (1.0 - 1e-12)) {
                any = true;
                z_[j] = 0.0;  // a nonzero here is not optimal; the residual is rebuilt next iteration
            } else {
                keep.push_back(j);
            }
        }
        active_.swap(keep);
        if (any) residual_from_scratch();
        return any;
    }

    // Priorities from the current residual's correlations (celer's distance to the dual constraint):
    // they move with the iterate, so violators outside the last working set are the next to enter.
    std::vector<int64_t> working_set(const std::vector<double>& corr, int64_t size) {
        double cmax = 0.0;
        for (int64_t j : active_) cmax = std::max(cmax, std::abs(corr[j]));
        const double scale = std::max(1.0, cmax / opt_.beta);
        std::vector<std::pair<double, int64_t>> prio;
        prio.reserve(active_.size());
        for (int64_t j : active_) {
            const double p = z_[j] != 0.0 ? -std::numeric_limits<double>::infinity()
                                           : (opt_.beta - std::abs(corr[j]) / scale) / norm_[j];
            prio.emplace_back(p, j);
        }
        if (size < static_cast<int64_t>(prio.size()))
            std::nth_element(prio.begin(), prio.begin() + size, prio.end());
        std::vector<int64_t> ws;
        ws.reserve(static_cast<size_t>(size));
        for (int64_t k = 0; k < size; ++k) ws.push_back(prio[k].second);
        std::sort(ws.begin(), ws.end());
        return ws;
    }

    // Coordinate descent on the working set until its gap <= tol_inner. Leaves in `extra` the
    // extrapolated dual point when it certified better than the plain residual (for the outer check).
    void inner_solve(const std::vector<int64_t>& ws, double tol_inner, std::vector<double>& extra) {
        const int64_t k = static_cast<int64_t>(ws.size()), n = n_;
        const double beta = opt_.beta;
        std::vector<double> X(static_cast<size_t>(n * k)), nrm2(static_cast<size_t>(k)), zw(static_cast<size_t>(k));
        for (int64_t c = 0; c < k; ++c) {  // gather and center once: the epochs then stream contiguous doubles
            double* xc = X.data() + c * n;
            centred_column(ws[c], xc);
            nrm2[c] = norm2_[ws[c]];
            zw[c] = z_[ws[c]];
        }
        ExactFinish exact(X, n, k, yc_, beta, opt_.fit_intercept ? n - 1 : n);
        constexpr int64_t kGapFreq = 10, kExtrap = 6;  // gap check every 10 epochs; 6 residuals extrapolated
        std::vector<std::vector<double>> last(kExtrap, std::vector<double>(static_cast<size_t>(n)));
        std::vector<double> corr(static_cast<size_t>(k)), theta_in, best_extra;
        double dual_in = -std::numeric_limits<double>::infinity();
        uint64_t tried_pattern = 0;
        uint64_t prev_pattern = support_pattern(zw);
        for (int64_t epoch = 1; epoch <= opt_.max_epochs; ++epoch) {
            ++epochs_;
            for (int64_t c = 0; c < k; ++c) {
                if (nrm2[c] == 0.0) continue;
                const double* xc = X.data() + c * n;
                const double g = dot(xc, r_.data(), n);
                const double old = zw[c];
                const double nz = detail::soft_threshold(old + g / nrm2[c], beta / nrm2[c]);
                if (nz != old) {
                    const double d = nz - old;
                    for (int64_t i = 0; i < n; ++i) r_[i] -= d * xc[i];
                    zw[c] = nz;
                }
            }
            const int64_t phase = epoch % kGapFreq;
            if (phase == 0 || phase > kGapFreq - kExtrap) last[(phase + kExtrap - 1) % kExtrap] = r_;
            if (phase != 0) continue;
            // Gap on the working-set problem.
            exact.residual(zw, r_);  // drop the rounding drift of the incremental updates
            double l1 = 0.0;
            for (double v : zw) l1 += std::abs(v);
            const double primal = 0.5 * detail::sq_norm(r_) + beta * l1;
            auto dual_of = [&](const std::vector<double>& v) {
                for (int64_t c = 0; c < k; ++c) corr[c] = dot(X.data() + c * n, v.data(), n);
                double cmax = 0.0;
                for (double g : corr) cmax = std::max(cmax, std::abs(g));
                const double scale = std::max(1.0, cmax / beta);
                double d = 0.0;
                for (int64_t i = 0; i < n; ++i) d += v[i] / scale * yc_[i] - 0.5 * (v[i] / scale) * (v[i] / scale);
                return d;
            };
            double d_res = dual_of(r_);
            if (d_res > dual_in) dual_in = d_res, theta_in.clear();
            std::vector<double> acc;
            if (extrapolate(last, acc)) {
                const double d_acc = dual_of(acc);
                if (d_acc > dual_in) dual_in = d_acc, best_extra = acc, theta_in = acc;
            }
            const double gap_in = primal - dual_in;
            if (gap_in <= tol_inner || stopped()) break;
            // Exact finish once the support and signs repeat between two checks (and not tried on them yet).
            const uint64_t pattern = support_pattern(zw);
            if (pattern == prev_pattern && pattern != tried_pattern) {
                tried_pattern = pattern;
                const auto t0 = std::chrono::steady_clock::now();
                const bool moved = exact.run(zw, r_, primal, exact_rounds_);
                exact_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                if (moved) {
                    dual_in = -std::numeric_limits<double>::infinity();  // primal moved: re-certify
                    theta_in.clear();
                    best_extra.clear();
                }
            }
            prev_pattern = pattern;
        }
        exact.residual(zw, r_);
        for (int64_t c = 0; c < k; ++c) z_[ws[c]] = zw[c];
        extra = theta_in.empty() ? std::vector<double>() : best_extra;
    }

    static uint64_t support_pattern(const std::vector<double>& zw) {
        uint64_t h = 1469598103934665603ull;
        for (size_t c = 0; c < zw.size(); ++c) {
            if (zw[c] == 0.0) continue;
            h = (h ^ (2 * c + (zw[c] > 0))) * 1099511628211ull;
        }
        return h;
    }

    // Dual extrapolation: with U the successive differences of the stored residuals, solve U^T U c = 1,
    // normalise sum(c) = 1, r_acc = sum_k c_k r_{k+1}. Converges fast once the CD iterates follow a
    // linear recursion (signs settled).
    static bool extrapolate(const std::vector<std::vector<double>>& last, std::vector<double>& acc) {
        const int64_t K = static_cast<int64_t>(last.size()) - 1, n = static_cast<int64_t>(last[0].size());
        std::vector<std::vector<double>> U(static_cast<size_t>(K), std::vector<double>(static_cast<size_t>(n)));
        for (int64_t a = 0; a < K; ++a)
            for (int64_t i = 0; i < n; ++i) U[a][i] = last[a + 1][i] - last[a][i];
        std::vector<double> M(static_cast<size_t>(K * K));
        for (int64_t a = 0; a < K; ++a)
            for (int64_t b = 0; b <= a; ++b) {
                double s = 0.0;
                for (int64_t i = 0; i < n; ++i) s += U[a][i] * U[b][i];
                M[a * K + b] = M[b * K + a] = s;
            }
        std::vector<double> c;
        if (!solve_spd_ones(M, K, c)) return false;
        double sum = 0.0;
        for (double v : c) sum += v;
        if (!(std::abs(sum) > 0.0) || !std::isfinite(sum)) return false;
        acc.assign(static_cast<size_t>(n), 0.0);
        for (int64_t a = 0; a < K; ++a)
            for (int64_t i = 0; i < n; ++i) acc[i] += c[a] / sum * last[a + 1][i];
        for (double v : acc)
            if (!std::isfinite(v)) return false;
        return true;
    }

    // Active-set (feature-sign) polish of the working-set problem from the current iterate: solve the
    // equality-constrained quadratic on the support with fixed signs, line-search back to the first sign
    // change, drop zeros, admit the worst KKT violators, repeat. The support's QR is updated, not refactored;
    // columns in the span of the factored ones are swapped in by null-space steps. Every accepted step
    // lowers the objective.
    class ExactFinish {
    public:
        // max_rank bounds the rank of the columns (n - 1 when they are centered).
        ExactFinish(const std::vector<double>& X, int64_t n, int64_t k, const std::vector<double>& yc, double beta,
                    int64_t max_rank)
            : X_(X), n_(n), k_(k), yc_(yc), beta_(beta), max_rank_(max_rank) {}

        // r = yc - X zw (the support lies inside the working set).
        void residual(const std::vector<double>& zw, std::vector<double>& r) const {
            r = yc_;
            for (int64_t c = 0; c < k_; ++c) {
                if (zw[c] == 0.0) continue;
                const double* xc = X_.data() + c * n_;
                for (int64_t i = 0; i < n_; ++i) r[i] -= zw[c] * xc[i];
            }
        }

        double objective(const std::vector<double>& zw, std::vector<double>& r) const {
            residual(zw, r);
            double l1 = 0.0;
            for (double v : zw) l1 += std::abs(v);
            return 0.5 * detail::sq_norm(r) + beta_ * l1;
        }

        // Returns true if the iterate changed.
        bool run(std::vector<double>& zw, std::vector<double>& r, double primal, int64_t& rounds_done) {
            std::vector<int64_t> S;
            for (int64_t c = 0; c < k_; ++c)
                if (zw[c] != 0.0) S.push_back(c);
            if (S.empty()) return false;
            bool changed = false;
            std::vector<double> d(static_cast<size_t>(k_)), u(static_cast<size_t>(n_));
            // The factorization follows the support one column at a time (O(n |S|) per change instead of
            // O(n |S|^2) per round); rebuilt from scratch on each call to keep the updates' rounding small.
            qr_.reset(n_, std::min(k_, max_rank_));
            F_.clear();
            pos_.assign(static_cast<size_t>(k_), -1);
            refused_.clear();
            dist2_.assign(static_cast<size_t>(k_), -1.0);
            noise2_.assign(static_cast<size_t>(k_), 0.0);
            if (norm2_.empty()) {
                norm2_.resize(static_cast<size_t>(k_));
                for (int64_t c = 0; c < k_; ++c) norm2_[c] = dot(X_.data() + c * n_, X_.data() + c * n_, n_);
            }
            // Run to the working-set optimum: stopping half-way would let coordinate descent undo the
            // progress and the next attempt start over.
            const int64_t max_rounds = 100 + 10 * k_;
            int64_t idle = 0;
            std::vector<double> zs, qtb;
            for (int64_t round = 0; round < max_rounds && !S.empty() && idle < 2; ++round) {
                ++rounds_done;
                const double before = primal;
                sync(zw, S);
                if (swap_dependent(zw, r, S, d, primal)) {
                    std::vector<int64_t> keep;
                    for (int64_t c : S)
                        if (zw[c] != 0.0) keep.push_back(c);
                    S.swap(keep);
                    changed = true;
                    idle = 0;
                    continue;
                }
                // Minimise 1/2 ||yc - A_F w||^2 + beta s_F^T w: R^T v = beta s_F, R w = Q^T yc - v.
                const int64_t f = qr_.size();
                zs.resize(static_cast<size_t>(f));
                qtb.resize(static_cast<size_t>(f));
                qr_.qt(yc_.data(), qtb.data());
                for (int64_t q = 0; q < f; ++q) zs[q] = zw[F_[q]] > 0 ? beta_ : -beta_;
                qr_.solve_rt(zs.data());
                for (int64_t q = 0; q < f; ++q) zs[q] = qtb[q] - zs[q];
                qr_.solve_r(zs.data());
                // Move along d = zs - z_S (refused columns: zs = 0) by the exact minimiser of the true
                // (piecewise quadratic) objective.
                for (int64_t c : S) d[c] = -zw[c];
                for (int64_t q = 0; q < f; ++q) d[F_[q]] += zs[q];
                const bool full = line_search(zw, d, S, r, u);
                for (int64_t c : S) d[c] = 0.0;
                primal = objective(zw, r);
                std::vector<int64_t> keep;
                for (int64_t c : S)
                    if (zw[c] != 0.0) keep.push_back(c);
                S.swap(keep);
                if (full) {
                    // Optimal on the support: admit the worst KKT violators of the working set (a few per
                    // round: most rounds end at a kink anyway), each by an exact one-coordinate step, which
                    // is a strict descent and gives it the right sign.
                    std::vector<std::pair<double, int64_t>> viol;
                    for (int64_t c = 0; c < k_; ++c) {
                        if (zw[c] != 0.0) continue;
                        const double excess = std::abs(dot(X_.data() + c * n_, r.data(), n_)) - beta_;
                        if (excess > 1e-12 * beta_) viol.emplace_back(-excess, c);
                    }
                    if (viol.empty()) {
                        changed |= primal < before;
                        break;
                    }
                    const size_t enter = std::min(viol.size(), static_cast<size_t>(kEnterPerRound));
                    std::partial_sort(viol.begin(), viol.begin() + static_cast<std::ptrdiff_t>(enter), viol.end());
                    for (size_t e = 0; e < enter; ++e) {
                        const int64_t c = viol[e].second;
                        const double* xc = X_.data() + c * n_;
                        double nrm2 = 0.0;
                        for (int64_t i = 0; i < n_; ++i) nrm2 += xc[i] * xc[i];
                        const double g = dot(xc, r.data(), n_);  // r is current: earlier entries moved it
                        const double v = detail::soft_threshold(g / nrm2, beta_ / nrm2);
                        if (v == 0.0) continue;
                        zw[c] = v;
                        for (int64_t i = 0; i < n_; ++i) r[i] -= v * xc[i];
                        S.push_back(c);
                    }
                    std::sort(S.begin(), S.end());
                    primal = objective(zw, r);
                }
                const bool progress = primal < before * (1.0 - 1e-15);
                changed |= primal < before;
                idle = progress ? 0 : idle + 1;
            }
            return changed;
        }

        // A support column c refused as dependent, a_c = A_F w, gives a direction e_c - w with X d = 0: along
        // it P is piecewise linear. Go downhill to the first kink where the slope stops being negative:
        // a column leaves (often one of F, which lets c be factored next round: a swap). Without this, a
        // dependent KKT violator would enter, be refused, be pushed out, and enter again.
        // Returns true if a step did not raise P (then zw, r and primal are updated; a flat step still takes
        // a column out of the support).
        bool swap_dependent(std::vector<double>& zw, std::vector<double>& r, const std::vector<int64_t>& S,
                            std::vector<double>& d, double& primal) {
            for (int64_t c : S) {
                if (pos_[c] >= 0) continue;
                const int64_t f = qr_.size();
                std::vector<double> w(static_cast<size_t>(f));
                qr_.qt(X_.data() + c * n_, w.data());
                qr_.solve_r(w.data());
                d[c] = 1.0;
                for (int64_t q = 0; q < f; ++q) d[F_[q]] = -w[q];
                // slope of beta ||z + t d||_1 at t = 0+ (all of S is nonzero), divided by beta
                double sigma = 0.0;
                for (int64_t j : S) sigma += zw[j] > 0 ? d[j] : -d[j];
                // Downhill; when flat, towards z_c = 0 (a smaller support for the same P).
                const double dir = sigma != 0.0 ? (sigma > 0 ? -1.0 : 1.0) : (zw[c] > 0 ? -1.0 : 1.0);
                sigma *= dir;
                std::vector<std::pair<double, int64_t>> kinks;
                for (int64_t j : S) {
                    d[j] *= dir;
                    if (d[j] != 0.0 && -zw[j] / d[j] > 0.0) kinks.emplace_back(-zw[j] / d[j], j);
                }
                std::sort(kinks.begin(), kinks.end());
                double t = 0.0;
                int64_t stop_at = -1;
                for (const auto& kink : kinks) {
                    sigma += 2.0 * std::abs(d[kink.second]);
                    if (sigma >= 0.0) {
                        t = kink.first;
                        stop_at = kink.second;
                        break;
                    }
                }
                std::vector<double> saved;
                if (stop_at >= 0) {
                    saved.reserve(S.size());
                    for (int64_t j : S) saved.push_back(zw[j]), zw[j] += t * d[j];
                    zw[stop_at] = 0.0;
                }
                for (int64_t j : S) d[j] = 0.0;
                if (stop_at < 0) continue;
                const double after = objective(zw, r);
                if (after <= primal) {
                    primal = after;
                    return true;
                }
                for (size_t q = 0; q < S.size(); ++q) zw[S[q]] = saved[q];  // rounding made it worse: undo
                primal = objective(zw, r);
            }
            return false;
        }

        // Make the factored set F the columns of S that are not (numerically) in the span of the others:
        // drop the columns that left S, append the others. A refused column is retried only once the
        // removals have moved it far enough from the span (tracked in O(n) per removal, not O(n |F|)).
        void sync(const std::vector<double>& zw, const std::vector<int64_t>& S) {
            for (int64_t p = static_cast<int64_t>(F_.size()) - 1; p >= 0; --p) {
                if (zw[F_[p]] != 0.0) continue;
                qr_.remove(p);
                pos_[F_[p]] = -1;
                F_.erase(F_.begin() + p);
                track_refused(qr_.dropped(), 1.0);
            }
            for (size_t p = 0; p < F_.size(); ++p) pos_[F_[p]] = static_cast<int64_t>(p);
            size_t kept = 0;
            for (int64_t c : refused_)  // forget refused columns that left the support
                if (zw[c] != 0.0 && dist2_[c] >= 0.0) refused_[kept++] = c;
                else dist2_[c] = -1.0;
            refused_.resize(kept);
            for (int64_t c : S) {
                if (pos_[c] >= 0) continue;
                const double* xc = X_.data() + c * n_;
                if (dist2_[c] >= 0.0) {
                    const double th = qr_.threshold(kRankTol, std::sqrt(norm2_[c]));
                    if (!(dist2_[c] > th * th + noise2_[c])) continue;
                }
                double dist = 0.0;
                if (qr_.append(xc, kRankTol, dist)) {
                    pos_[c] = static_cast<int64_t>(F_.size());
                    F_.push_back(c);
                    dist2_[c] = -1.0;
                    track_refused(qr_.newest(), -1.0);
                } else {
                    if (dist2_[c] < 0.0) refused_.push_back(c);
                    dist2_[c] = dist * dist;
                    noise2_[c] = 0.0;
                }
            }
        }

        // The span gained (sign -1) or lost (+1) the unit direction q: update the refused columns' distances.
        // The distance is a difference of rounded squares: noise2_ bounds its error, so that a column is
        // retried (an O(n |F|) append) only when it has really moved away from the span.
        void track_refused(const double* q, double sign) {
            for (int64_t c : refused_) {
                if (dist2_[c] < 0.0) continue;
                if (qr_.full()) {  // the span holds every column: exactly zero
                    dist2_[c] = noise2_[c] = 0.0;
                    continue;
                }
                // t is rounded to ~ n eps ||a_c|| (absolute, however small t is): t^2 to twice |t| that.
                const double t = dot(X_.data() + c * n_, q, n_);
                const double err = 1e-16 * static_cast<double>(n_) * std::sqrt(norm2_[c]);
                dist2_[c] = std::max(0.0, dist2_[c] + sign * t * t);
                noise2_[c] += (2.0 * std::abs(t) + err) * err + 1e-15 * t * t;
            }
        }

        // zw += t* d with t* >= 0 the exact minimiser of P(zw + t d) = 1/2||r - t X d||^2 + beta ||zw + t d||_1
        // (convex, piecewise quadratic: scan the kinks in order). Coordinates stopped at a kink are set to 0.
        // Returns true when t* = 1 with no kink before it (zs was sign-consistent).
        bool line_search(std::vector<double>& zw, const std::vector<double>& d, const std::vector<int64_t>& S,
                         const std::vector<double>& r, std::vector<double>& u) const {
            std::fill(u.begin(), u.end(), 0.0);
            for (int64_t c : S) {
                if (d[c] == 0.0) continue;
                const double* xc = X_.data() + c * n_;
                for (int64_t i = 0; i < n_; ++i) u[i] += d[c] * xc[i];
            }
            double a = 0.0, ur = 0.0;
            for (int64_t i = 0; i < n_; ++i) a += u[i] * u[i], ur += u[i] * r[i];
            if (!(a > 0.0)) return false;
            // slope of the l1 part just after t: sigma; it jumps by 2|d_c| at the kink t_c = -z_c / d_c
            double sigma = 0.0;
            std::vector<std::pair<double, int64_t>> kinks;
            for (int64_t c : S) {
                if (d[c] == 0.0) continue;
                if (zw[c] == 0.0) {
                    sigma += std::abs(d[c]);
                } else {
                    sigma += zw[c] > 0 ? d[c] : -d[c];
                    const double tc = -zw[c] / d[c];
                    if (tc > 0.0) kinks.emplace_back(tc, c);
                }
            }
            std::sort(kinks.begin(), kinks.end());
            double t = 0.0;
            int64_t stop_at = -1;
            size_t k = 0;
            for (;; ++k) {
                const double lo = k == 0 ? 0.0 : kinks[k - 1].first;
                const double hi = k < kinks.size() ? kinks[k].first : std::numeric_limits<double>::infinity();
                const double ts = (ur - beta_ * sigma) / a;  // stationary point of this piece
                if (ts <= lo) {
                    t = lo;
                    stop_at = k == 0 ? -1 : kinks[k - 1].second;
                    break;
                }
                if (ts < hi) {
                    t = ts;
                    break;
                }
                sigma += 2.0 * std::abs(d[kinks[k].second]);
            }
            if (t == 0.0) return false;
            for (int64_t c : S) zw[c] += t * d[c];
            if (stop_at >= 0) zw[stop_at] = 0.0;  // stopped on its kink: exactly zero, not a rounding residue
            const bool no_kink_before_one = kinks.empty() || kinks[0].first >= 1.0;
            return no_kink_before_one && std::abs(t - 1.0) <= 1e-9;
        }

    private:
        const std::vector<double>& X_;
        int64_t n_, k_;
        const std::vector<double>& yc_;
        double beta_;
        int64_t max_rank_;
        UpdatedQR qr_;
        std::vector<int64_t> F_, pos_;  // factored columns in factor order; position in F_ or -1
        std::vector<int64_t> refused_;  // support columns refused as dependent
        std::vector<double> dist2_, noise2_;  // their squared distance to the span (-1: not refused), its error
        std::vector<double> norm2_;     // squared column norms
        static constexpr double kRankTol = 1e-11;
        static constexpr int64_t kEnterPerRound = 4;
    };

    LassoOutput& finish(LassoOutput& out, const std::vector<double>& theta, double primal, double gap,
                        bool converged) {
        out.coef = z_;
        out.dual = theta;
        double xi = ybar_;
        if (opt_.fit_intercept)
            for (int64_t j = 0; j < m_; ++j) xi -= mean_[j] * z_[j];
        out.intercept = opt_.fit_intercept ? xi : 0.0;
        out.objective = primal;
        out.gap = gap;
        out.relative_gap = p0_ > 0.0 ? gap / p0_ : 0.0;
        out.converged = converged;
        out.n_epochs = epochs_;
        return out;
    }
};

// Solve one Lasso problem (see LassoOptions). z0: warm start (length cols) or null; theta0: a dual point
// from a nearby problem (e.g. the previous beta of a path), length rows, or null.
inline LassoOutput lasso(const DesignMatrix& A, const double* y, const LassoOptions& opt, const double* z0 = nullptr,
                         const double* theta0 = nullptr) {
    LassoSolver solver(A, y, opt);
    return solver.solve(z0, theta0);
}

// ||P A^T P y||_inf: the smallest beta with z = 0 optimal.
inline double lasso_beta_max(const DesignMatrix& A, const double* y, bool fit_intercept, int threads = 0) {
    const int64_t n = A.rows(), m = A.cols();
    if (threads <= 0) threads = default_num_threads();
    double ybar;
    const std::vector<double> yc = detail::centred_target(y, n, fit_intercept, ybar);
    std::vector<int64_t> idx(static_cast<size_t>(m));
    for (int64_t j = 0; j < m; ++j) idx[j] = j;
    std::vector<double> corr(static_cast<size_t>(m)), shift(static_cast<size_t>(m), 0.0);
    if (fit_intercept) {  // columns shifted by their means inside the sums (see LassoSolver::full_correlation)
        parallel_for(0, m, threads, [&](int64_t lo, int64_t hi) {
            for (int64_t j = lo; j < hi; ++j) {
                double csq;
                A.column_stats(j, shift[j], csq);
            }
        }, 1024);
    }
    parallel_tmul(A, yc.data(), idx.data(), m, corr.data(), threads, fit_intercept ? shift.data() : nullptr);
    double best = 0.0;
    for (int64_t j = 0; j < m; ++j) best = std::max(best, std::abs(corr[j]));
    return best;
}

}  // namespace netmirror

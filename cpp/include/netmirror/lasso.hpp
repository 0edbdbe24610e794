// Lasso with a free intercept, in sum units:  min_{z, xi} 1/2 ||A z + xi 1 - y||^2 + beta ||z||_1.
//
// Outer loop: the working-set driver of working_set.hpp (celer-style): one full correlation pass A^T r per
// iteration gives a dual-feasible point, the certified duality gap, Gap Safe screening and the working-set
// priorities. Inner loop: cyclic coordinate descent on the working set (columns gathered and centered once),
// with dual extrapolation from the last residuals and the exact finish of exact_finish.hpp: once the support
// and signs repeat, the reduced problem (A_S^T P A_S) z_S = A_S^T P y - beta s is solved by a QR factorization
// updated as columns enter and leave, with feature-sign line searches and KKT re-entry, so the gap can fall to
// rounding level on nearly collinear neural-network dictionaries.
//
// The solver reads A only through DesignMatrix (matrix.hpp) and its batch hooks: the same solver serves dense
// arrays, matrix-free libraries, oracles and the device-backed matrix of the CUDA module.
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
#include <utility>
#include <vector>

#include "exact_finish.hpp"
#include "linalg.hpp"
#include "matrix.hpp"
#include "parallel.hpp"
#include "working_set.hpp"

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
        corr_.assign(static_cast<size_t>(m_), 0.0);
        corr_extra_.assign(static_cast<size_t>(m_), 0.0);
        corr_best_.assign(static_cast<size_t>(m_), 0.0);
        theta_best_.assign(static_cast<size_t>(n_), 0.0);
        dual_best_ = 0.0;  // theta = 0 is always feasible with D(0) = 0
        extra_.clear();
        if (theta0) extra_.assign(theta0, theta0 + n_);
        screened_any_ = false;
        WorkingSetOptions wo;
        wo.tol_abs = tol_abs;
        wo.max_iter = opt_.max_iter;
        wo.ws_start = opt_.ws_start;
        wo.verbose = opt_.verbose;
        wo.stop = opt_.stop;
        const WorkingSetResult res = run_working_set(*this, wo);
        double primal = res.primal, gap = res.gap;
        bool converged = res.converged;
        out.n_iter = res.n_iter;
        // Certificate over every column: screening is safe in exact arithmetic; re-check it in floating point.
        if (screened_any_) {
            active_.clear();
            for (int64_t j = 0; j < m_; ++j)
                if (usable_[j]) active_.push_back(j);
            std::vector<double> t = theta_best_;
            full_correlation(t, corr_);
            dual_best_ = -std::numeric_limits<double>::infinity();
            consider_dual(t, corr_);
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
    std::vector<double> corr_, corr_extra_;        // this pass's correlations of the residual, of extra_
    std::vector<double> extra_;                    // next dual candidate: warm start, then extrapolated point
    double dual_best_ = 0.0;
    bool screened_any_ = false;
    int64_t epochs_ = 0, exact_rounds_ = 0;
    double exact_seconds_ = 0.0;

    bool stopped() const { return opt_.stop && opt_.stop->load(std::memory_order_relaxed); }

    void column_statistics() {
        mean_.assign(static_cast<size_t>(m_), 0.0);
        norm2_.assign(static_cast<size_t>(m_), 0.0);
        A_.all_column_stats(mean_.data(), norm2_.data(), threads_);  // centred squared norms into norm2_
        if (!opt_.fit_intercept)
            for (int64_t j = 0; j < m_; ++j) {
                norm2_[j] = norm2_[j] + static_cast<double>(n_) * mean_[j] * mean_[j];
                mean_[j] = 0.0;
            }
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

    // Columns idx[0..count) as the solver sees them: P a_j with an intercept (center_column: accurate far from
    // the origin), column-major into out.
    void centred_columns(const int64_t* idx, int64_t count, double* out) const {
        A_.columns(idx, count, out);
        if (opt_.fit_intercept)
            for (int64_t c = 0; c < count; ++c) center_column(out + c * n_, n_, mean_[idx[c]]);
    }

    void residual_from_scratch() {
        r_ = yc_;
        std::vector<int64_t> nz;
        for (int64_t j = 0; j < m_; ++j)
            if (z_[j] != 0.0) nz.push_back(j);
        if (nz.empty()) return;
        // Support columns in blocks of up to 4 MiB (one batch per block for a device matrix), applied in order.
        const int64_t nnz = static_cast<int64_t>(nz.size());
        const int64_t block =
            std::min<int64_t>(nnz, std::max<int64_t>(1, (int64_t(1) << 19) / std::max<int64_t>(n_, 1)));
        std::vector<double> cols(static_cast<size_t>(block * n_));
        for (int64_t b0 = 0; b0 < nnz; b0 += block) {
            const int64_t count = std::min(block, nnz - b0);
            centred_columns(nz.data() + b0, count, cols.data());
            for (int64_t c = 0; c < count; ++c) {
                const double zj = z_[nz[b0 + c]];
                const double* col = cols.data() + c * n_;
                for (int64_t i = 0; i < n_; ++i) r_[i] -= zj * col[i];
            }
        }
    }

    double primal_value() const {
        double l1 = 0.0;
        for (double v : z_) l1 += std::abs(v);
        return 0.5 * detail::sq_norm(r_) + opt_.beta * l1;
    }

    // Gap Safe rule (Ndiaye, Fercoq, Gramfort & Salmon 2017): |a_j^T theta| + ||P a_j|| sqrt(2 gap) < beta
    // =>  z*_j = 0.
    bool gap_safe_screen(double gap) {
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

    // ---- the working-set driver's hooks (working_set.hpp) ----
    template <class Problem>
    friend WorkingSetResult run_working_set(Problem&, const WorkingSetOptions&);

    // Dual candidates: the rescaled residual, then the inner solver's extrapolated point (or the warm start).
    WorkingSetPass full_pass() {
        residual_from_scratch();
        const double primal = primal_value();
        full_correlation(r_, corr_);
        consider_dual(r_, corr_);
        if (!extra_.empty()) {
            full_correlation(extra_, corr_extra_);
            consider_dual(extra_, corr_extra_);
            extra_.clear();
        }
        return {primal, dual_best_};
    }

    void report(int64_t it, double primal, double gap) const {
        std::fprintf(stderr, "netmirror.lasso: iter %lld  primal %.12e  gap %.3e  (rel %.3e)  active %zu\n",
                     static_cast<long long>(it), primal, gap, gap / p0_, active_.size());
    }

    void screen(double gap) { screened_any_ |= gap_safe_screen(gap); }
    bool outer_step(const WorkingSetStep&) { return false; }
    int64_t candidates() const { return static_cast<int64_t>(active_.size()); }

    int64_t nnz() const {
        int64_t nnz = 0;
        for (int64_t j : active_) nnz += z_[j] != 0.0;
        return nnz;
    }

    // Priorities from the current residual's correlations (celer's distance to the dual constraint):
    // they move with the iterate, so violators outside the last working set are the next to enter.
    void priorities(std::vector<std::pair<double, int64_t>>& prio) const {
        double cmax = 0.0;
        for (int64_t j : active_) cmax = std::max(cmax, std::abs(corr_[j]));
        const double scale = std::max(1.0, cmax / opt_.beta);
        prio.reserve(active_.size());
        for (int64_t j : active_) {
            const double p = z_[j] != 0.0 ? -std::numeric_limits<double>::infinity()
                                           : (opt_.beta - std::abs(corr_[j]) / scale) / norm_[j];
            prio.emplace_back(p, j);
        }
    }

    void inner_solve(const std::vector<int64_t>& ws, const WorkingSetStep& step) {
        const int64_t e0 = epochs_;
        inner_solve(ws, step.tol_inner, extra_);
        if (opt_.verbose)
            std::fprintf(stderr, "netmirror.lasso:   working set %lld, %lld epochs, %lld exact-finish rounds (%.3f s)\n",
                         static_cast<long long>(ws.size()), static_cast<long long>(epochs_ - e0),
                         static_cast<long long>(exact_rounds_), exact_seconds_);
    }

    // Coordinate descent on the working set until its gap <= tol_inner. Leaves in `extra` the
    // extrapolated dual point when it certified better than the plain residual (for the outer check).
    void inner_solve(const std::vector<int64_t>& ws, double tol_inner, std::vector<double>& extra) {
        const int64_t k = static_cast<int64_t>(ws.size()), n = n_;
        const double beta = opt_.beta;
        std::vector<double> X(static_cast<size_t>(n * k)), nrm2(static_cast<size_t>(k)), zw(static_cast<size_t>(k));
        centred_columns(ws.data(), k, X.data());  // gathered and centred once: the epochs stream contiguous doubles
        for (int64_t c = 0; c < k; ++c) {
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
    // Columns shifted by their means inside the sums (see LassoSolver::full_correlation); corr holds the
    // centred squared norms until the pass overwrites it.
    if (fit_intercept) A.all_column_stats(shift.data(), corr.data(), threads);
    parallel_tmul(A, yc.data(), idx.data(), m, corr.data(), threads, fit_intercept ? shift.data() : nullptr);
    double best = 0.0;
    for (int64_t j = 0; j < m; ++j) best = std::max(best, std::abs(corr[j]));
    return best;
}

}  // namespace netmirror

// The Lasso at small beta by the dual active-set method of Goldfarb & Idnani (1983), started from the basis of
// the beta -> 0+ limit (basis_pursuit.hpp).
//
// The Lasso's dual is the projection of the fit y_hat onto a polytope, a strictly convex QP in N variables:
//     max_theta  y_hat^T theta - 1/2 ||theta||^2   subject to  |x_j^T theta| <= beta  for every column j.
// The method keeps an active set A of constraints s_j e_j^T theta = b_j (e_j = x_j / ||x_j||, b_j = beta /
// ||x_j||: unit normals, so that columns of any scale are treated alike) with multipliers lambda_j >= 0, and
// theta optimal for the constraints in A. The multipliers are the Lasso's coefficients, z_j = s_j lambda_j /
// ||x_j||, with theta = y_hat - X z. With N_A = [s_j e_j] = Q R,
//     theta = (I - Q Q^T) y_hat + Q R^{-T} b_A,       lambda = R^{-1} (Q^T y_hat - R^{-T} b_A),
// so theta (of size O(beta)) comes from the factorization, not from the cancellation in y_hat - X z.
// A step takes the most violated constraint p and raises its multiplier t while the active constraints stay
// tight: theta moves along -(I - Q Q^T) n_p, lambda_A along -R^{-1} Q^T n_p. It stops where p becomes tight
// (p joins A) or where an active multiplier reaches 0 (that constraint leaves, and p is tried again); a p in
// the span of N_A moves the multipliers only. Every step raises the dual objective, so no active set repeats,
// and the active columns stay linearly independent: every iterate is a basic solution (at most rank nonzeros).
//
// Started at the limit's basis, the method visits only the changes between beta = 0 and beta, without
// following the path through its ties (columns tight at the same beta, which are the rule in neural-network
// dictionaries: a capped ramp is the difference of two ramps). Constraints are generated: the steps price a
// working set of columns; when it has no violator, one pass over every column certifies theta or adds the
// worst violators to it.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "basis_pursuit.hpp"
#include "linalg.hpp"

namespace netmirror {

struct ActiveSetOutput {
    std::vector<double> coef;  // z (length cols)
    std::vector<double> dual;  // theta in the weighted space (dual feasible)
    double objective = 0.0, gap = 0.0;  // in the weighted space: 1/2 ||y_t - X z||^2 + beta ||z||_1
    int64_t steps = 0, drops = 0, passes = 0;  // steps: constraints added; drops: constraints that left
    bool converged = false;
};

class LassoDualActiveSet {
public:
    // X: the columns; yt: the target in X's space (WeightedColumns::target); yhat: its projection on the
    // columns' span (BasisPursuit::target()), so yt - yhat is orthogonal to every column; limit: the basis
    // pursuit solution, whose basis starts the active set.
    LassoDualActiveSet(const WeightedColumns& X, const std::vector<double>& yt, const std::vector<double>& yhat,
                       const BasisPursuitOutput& limit)
        : X_(X), n_(X.rows()), m_(X.cols()), yt_(yt), yhat_(yhat), limit_(limit) {}

    ActiveSetOutput solve(double beta, double tol_abs, const std::atomic<bool>* stop = nullptr,
                          int64_t max_passes = 100) {
        ActiveSetOutput out;
        beta_ = beta;
        tol_abs_ = tol_abs;
        viol_tol_ = kViolTol;
        if (limit_.l1 > 0.0) viol_tol_ = std::max(kViolTol, std::min(1e-6, 0.25 * tol_abs / (beta * limit_.l1)));
        std::vector<int64_t> usable;
        for (int64_t j = 0; j < m_; ++j)
            if (X_.usable(j)) usable.push_back(j);
        index_.assign(static_cast<size_t>(m_), -1);
        for (int64_t j : limit_.basis) add(j);
        {   // the working set also holds the columns tight at the limit's dual: |x_j^T u| close to 1
            std::vector<double> g(usable.size());
            X_.correlations(limit_.dual.data(), usable.data(), static_cast<int64_t>(usable.size()), g.data());
            std::vector<std::pair<double, int64_t>> score;
            for (size_t k = 0; k < usable.size(); ++k)
                if (index_[usable[k]] < 0) score.emplace_back(-std::abs(g[k]), usable[k]);
            const size_t take = std::min(score.size(), static_cast<size_t>(n_ + 16));
            std::partial_sort(score.begin(), score.begin() + static_cast<std::ptrdiff_t>(take), score.end());
            for (size_t k = 0; k < take; ++k) add(score[k].second);
        }
        start();
        const int64_t cap = 50 * n_ + 1000;  // steps in all; the method is finite, this bounds a rounding loop
        std::vector<double> corr(usable.size()), cperp(usable.size());
        bool stopped = false;
        for (out.passes = 1; out.passes <= max_passes; ++out.passes) {
            // Steps until the working set has no violator, or a budget of them: then a certificate over every
            // column may already reach tol_abs (long runs of pivots among ties end the same optimum's search).
            const int64_t budget = out.steps + kCheckEvery;
            bool clean = false;
            while (out.steps < cap && !(stopped = stop && stop->load(std::memory_order_relaxed))) {
                if (out.steps >= budget) break;
                const int64_t p = most_violated();
                if (p < 0) {
                    clean = true;
                    break;
                }
                step(p, out.steps, out.drops);
            }
            if (!clean && !stopped) {
                collect(out);
                certify(out, beta, tol_abs, usable, corr, cperp);
                if (out.converged) return out;
                if (out.steps < cap) continue;
            }
            // One pass over every column: theta is feasible (certified below) or the worst violators enter.
            X_.correlations(theta_.data(), usable.data(), static_cast<int64_t>(usable.size()), corr.data());
            std::vector<std::pair<double, int64_t>> viol;
            const double tnorm = std::sqrt(dot(theta_.data(), theta_.data(), n_));
            for (size_t k = 0; k < usable.size(); ++k) {
                const int64_t j = usable[k];
                if (index_[j] < 0 && std::abs(corr[k]) > threshold(std::sqrt(X_.norm2(j)), tnorm))
                    viol.emplace_back(-(std::abs(corr[k]) - beta) / std::sqrt(X_.norm2(j)), j);
            }
            if (viol.empty() || stopped || out.steps >= cap) break;
            const size_t take = std::min(viol.size(), static_cast<size_t>(std::max<int64_t>(64, 2 * n_)));
            std::partial_sort(viol.begin(), viol.begin() + static_cast<std::ptrdiff_t>(take), viol.end());
            for (size_t k = 0; k < take; ++k) add(viol[k].second);
        }
        out.passes = std::min(out.passes, max_passes);
        collect(out);
        certify(out, beta, tol_abs, usable, corr, cperp);
        return out;
    }

private:
    const WeightedColumns& X_;
    int64_t n_, m_;
    const std::vector<double>& yt_;
    const std::vector<double>& yhat_;
    const BasisPursuitOutput& limit_;
    double beta_ = 0.0, tol_abs_ = 0.0, viol_tol_ = 0.0;
    std::vector<int64_t> index_, ws_;  // column -> working-set position; working set (columns)
    std::vector<double> cols_, inv_norm_;  // working-set columns, n each, and 1 / ||x_j||
    std::vector<char> refused_;        // working-set positions refused until the next drop
    std::vector<int64_t> act_;         // active set (working-set positions), in QR order
    std::vector<double> sgn_, lam_;    // their signs and multipliers
    std::vector<double> theta_;        // the dual point of the active set
    UpdatedQR qr_;
    // Independence of a constraint normal (unit length) from the active ones; violation tolerance relative to
    // beta (the certificate rescales theta by at most 1 + kViolTol).
    static constexpr double kRankTol = 1e-11, kViolTol = 1e-11, kGainTol = 1e-6, kTieTol = 1e-9;
    static constexpr int64_t kCheckEvery = 512;

    // A correlation above this violates |x_j^T theta| <= beta: beyond viol_tol_ and beyond the rounding of the
    // dot product (16 eps ||x_j|| ||theta||), so that rounding never makes a tie look violated and cycle.
    // viol_tol_: kViolTol, or the relative violation the certificate absorbs within a quarter of tol_abs
    // (rescaling theta by 1 + v costs the dual about v beta ||z||_1 <= v beta ||z_limit||_1).
    double threshold(double xnorm, double tnorm) const {
        return beta_ * (1.0 + viol_tol_) + 16.0 * std::numeric_limits<double>::epsilon() * xnorm * tnorm;
    }

    // z_j = s_j lambda_j / ||x_j|| on the active set.
    void collect(ActiveSetOutput& out) const {
        out.coef.assign(static_cast<size_t>(m_), 0.0);
        for (size_t a = 0; a < act_.size(); ++a) {
            const int64_t j = ws_[act_[a]];
            out.coef[j] = sgn_[a] * lam_[a] / std::sqrt(X_.norm2(j));
        }
    }

    void add(int64_t j) {
        if (index_[j] >= 0) return;
        index_[j] = static_cast<int64_t>(ws_.size());
        ws_.push_back(j);
        cols_.resize(ws_.size() * static_cast<size_t>(n_));
        X_.column(j, cols_.data() + (ws_.size() - 1) * static_cast<size_t>(n_));
        inv_norm_.push_back(1.0 / std::sqrt(X_.norm2(j)));
        refused_.push_back(0);
    }
    const double* col(int64_t p) const { return cols_.data() + p * n_; }
    double dual_value() const { return dot(yhat_.data(), theta_.data(), n_) - 0.5 * dot(theta_.data(), theta_.data(), n_); }

    // The unit normal s e_p of working-set position p.
    void normal(int64_t p, double s, double* out) const {
        const double* x = col(p);
        const double f = s * inv_norm_[p];
        for (int64_t i = 0; i < n_; ++i) out[i] = f * x[i];
    }
    double bound(int64_t p) const { return beta_ * inv_norm_[p]; }

    // theta and lambda from the factorization; constraints whose multiplier came out negative (rounding, or
    // the start) leave, one at a time, the most negative first.
    void refresh() {
        for (;;) {
            const int64_t q = qr_.size();
            std::vector<double> qty(static_cast<size_t>(q)), t(static_cast<size_t>(q)), qt(static_cast<size_t>(n_));
            qr_.qt(yhat_.data(), qty.data());
            for (int64_t a = 0; a < q; ++a) t[a] = bound(act_[a]);
            qr_.solve_rt(t.data());
            for (int64_t a = 0; a < q; ++a) t[a] -= qty[a];  // R^{-T} b - Q^T y_hat
            qr_.q_mul(t.data(), qt.data());
            theta_.assign(yhat_.begin(), yhat_.end());
            for (int64_t i = 0; i < n_; ++i) theta_[i] += qt[i];
            lam_.assign(static_cast<size_t>(q), 0.0);
            for (int64_t a = 0; a < q; ++a) lam_[a] = -t[a];
            qr_.solve_r(lam_.data());
            int64_t worst = -1;
            for (int64_t a = 0; a < q; ++a)
                if (lam_[a] < 0.0 && (worst < 0 || lam_[a] < lam_[worst])) worst = a;
            if (worst < 0) return;
            drop(worst);
        }
    }

    void drop(int64_t a) {
        qr_.remove(a);
        act_.erase(act_.begin() + a);
        sgn_.erase(sgn_.begin() + a);
        lam_.erase(lam_.begin() + a);
    }

    // The active set of the limit's basic solution (its nonzero, independent columns with their signs).
    void start() {
        qr_.reset(n_, n_);
        std::vector<double> e(static_cast<size_t>(n_));
        for (int64_t j : limit_.basis) {
            const double zj = limit_.coef[j];
            if (zj == 0.0) continue;
            const int64_t p = index_[j];
            const double s = zj > 0 ? 1.0 : -1.0;
            normal(p, s, e.data());
            double dist;
            if (!qr_.append(e.data(), kRankTol, dist)) continue;
            act_.push_back(p);
            sgn_.push_back(s);
        }
        lam_.assign(act_.size(), 0.0);
        refresh();
    }

    // The working-set position whose constraint is most violated (distance of theta to it), or -1.
    int64_t most_violated() const {
        const int64_t k = static_cast<int64_t>(ws_.size());
        std::vector<char> active(static_cast<size_t>(k), 0);
        for (int64_t p : act_) active[p] = 1;
        int64_t best = -1;
        double worst = 0.0;
        const double tnorm = std::sqrt(dot(theta_.data(), theta_.data(), n_));
        for (int64_t p = 0; p < k; ++p) {
            if (active[p] || refused_[p]) continue;
            const double c = std::abs(dot(col(p), theta_.data(), n_));
            if (!(c > threshold(1.0 / inv_norm_[p], tnorm))) continue;
            const double v = (c - beta_) * inv_norm_[p];
            if (v > worst) worst = v, best = p;
        }
        return best;
    }

    // One constraint p joins (Goldfarb & Idnani's partial and full steps).
    void step(int64_t p, int64_t& steps, int64_t& drops) {
        const double s = dot(col(p), theta_.data(), n_) > 0 ? 1.0 : -1.0;
        std::vector<double> np(static_cast<size_t>(n_)), zp(static_cast<size_t>(n_)), qp(static_cast<size_t>(n_));
        normal(p, s, np.data());
        double lam_p = 0.0;
        ++steps;
        std::vector<int64_t> left;  // constraints that left during this step
        // A step that changes the dual objective by no more than rounding (ties among near-dependent columns)
        // and drops constraints could be undone by the next step: the constraints it dropped are refused until
        // the objective really moves (anti-cycling).
        const double d0 = dual_value();
        auto settle = [&] {
            const double d1 = dual_value();
            if (std::abs(d1 - d0) > kGainTol * tol_abs_ + 1e-15 * std::abs(d0)) {
                std::fill(refused_.begin(), refused_.end(), 0);
            } else {
                for (int64_t l : left) refused_[l] = 1;
            }
        };
        for (;;) {
            const int64_t q = qr_.size();
            std::vector<double> r(static_cast<size_t>(q));
            qr_.qt(np.data(), r.data());
            qr_.q_mul(r.data(), qp.data());
            double zz = 0.0;
            for (int64_t i = 0; i < n_; ++i) zp[i] = np[i] - qp[i], zz += zp[i] * zp[i];
            qr_.solve_r(r.data());
            const bool dependent = !(std::sqrt(zz) > kRankTol);
            const double violation = dot(np.data(), theta_.data(), n_) - bound(p);
            if (dependent && lam_p == 0.0) {
                // n_p = N_A r: in exact arithmetic n_p^T theta = sum_a r_a b_a. A violation within the rounding of
                // that sum is a tie (the rule in these dictionaries), not a constraint to trade against.
                double scale = bound(p);
                for (int64_t a = 0; a < q; ++a) scale += std::abs(r[a]) * bound(act_[a]);
                if (violation <= kTieTol * scale) {
                    refused_[p] = 1;
                    return;
                }
            }
            double t_full = std::numeric_limits<double>::infinity(), t_part = t_full;
            if (!dependent) t_full = std::max(0.0, violation) / zz;
            int64_t leave = -1;
            for (int64_t a = 0; a < q; ++a)
                if (r[a] > 0.0 && lam_[a] / r[a] < t_part) t_part = lam_[a] / r[a], leave = a;
            if (!(std::min(t_full, t_part) < std::numeric_limits<double>::infinity())) {
                settle();
                refused_[p] = 1;  // dependent and nothing to trade against: rounding; leave p out
                return;
            }
            const double t = std::min(t_full, t_part);
            for (int64_t a = 0; a < q; ++a) lam_[a] -= t * r[a];
            lam_p += t;
            if (!dependent)
                for (int64_t i = 0; i < n_; ++i) theta_[i] -= t * zp[i];
            if (t_full <= t_part) {
                double dist;
                if (!qr_.append(np.data(), kRankTol, dist)) {
                    refresh();
                    settle();
                    refused_[p] = 1;
                    return;
                }
                act_.push_back(p);
                sgn_.push_back(s);
                lam_.push_back(lam_p);
                refresh();  // exact theta and lambda for the new active set
                settle();
                return;
            }
            left.push_back(act_[leave]);
            drop(leave);  // an active multiplier reached 0: that constraint leaves, p is tried again
            ++drops;
        }
    }

    // The Lasso duality gap over every column, in the weighted space. The residual splits into r_perp = yt - yhat,
    // orthogonal to the columns (its correlations are rounding), and theta, of size O(beta): only theta is
    // rescaled into the dual-feasible set (rescaling r_perp would cost (scale - 1) ||r_perp||^2, a floor far
    // above tol when beta is tiny and y is not fitted exactly).
    void certify(ActiveSetOutput& out, double beta, double tol_abs, const std::vector<int64_t>& usable,
                 std::vector<double>& corr, std::vector<double>& cperp) const {
        std::vector<double> r = yt_, rperp(static_cast<size_t>(n_)), rpar(static_cast<size_t>(n_));
        double l1 = 0.0;
        for (int64_t j = 0; j < m_; ++j) {
            if (out.coef[j] == 0.0) continue;
            l1 += std::abs(out.coef[j]);
            const double* x = col(index_[j]);
            for (int64_t i = 0; i < n_; ++i) r[i] -= out.coef[j] * x[i];
        }
        for (int64_t i = 0; i < n_; ++i) rperp[i] = yt_[i] - yhat_[i], rpar[i] = theta_[i];
        const int64_t u = static_cast<int64_t>(usable.size());
        X_.correlations(rpar.data(), usable.data(), u, corr.data());
        X_.correlations(rperp.data(), usable.data(), u, cperp.data());
        double scale = 1.0;
        bool split = true;
        for (int64_t k = 0; k < u; ++k) {
            const double room = beta - std::abs(cperp[k]);
            if (!(room > 0.0)) split = false;
            else scale = std::max(scale, std::abs(corr[k]) / room);
        }
        if (!split) {  // the rounding of r_perp's correlations exceeds beta: rescale the whole residual
            X_.correlations(r.data(), usable.data(), u, corr.data());
            scale = 1.0;
            for (int64_t k = 0; k < u; ++k) scale = std::max(scale, std::abs(corr[k]) / beta);
            for (int64_t i = 0; i < n_; ++i) rpar[i] = r[i], rperp[i] = 0.0;
        }
        double rr = 0.0, d = 0.0;
        out.dual.assign(static_cast<size_t>(n_), 0.0);
        for (int64_t i = 0; i < n_; ++i) {
            rr += r[i] * r[i];
            const double th = rperp[i] + rpar[i] / scale;
            out.dual[i] = th;
            d += th * yt_[i] - 0.5 * th * th;
        }
        out.objective = 0.5 * rr + beta * l1;
        out.gap = std::max(0.0, out.objective - d);
        out.converged = out.gap <= tol_abs;
    }
};

// The Lasso at beta >= 0 from its beta -> 0+ limit: basis pursuit, then (beta > 0) the dual active-set method.
// Everything is in the weighted space of WeightedColumns (rows scaled by sqrt(w), intercept projected out).
struct SparseLimitOutput {
    BasisPursuitOutput limit;
    ActiveSetOutput lasso;       // empty when beta == 0
    std::vector<double> target;  // P sqrt(w) y (before its projection on the span)
};

inline SparseLimitOutput lasso_from_limit(const DesignMatrix& A, const double* y, const double* w, bool fit_intercept,
                                          double beta, double tol_abs, const BasisPursuitOptions& opt) {
    WeightedColumns X(A, w, fit_intercept, opt.threads);
    SparseLimitOutput out;
    out.target = X.target(y);
    BasisPursuit bp(X, y, opt);
    out.limit = bp.solve();
    if (beta > 0.0 && !(opt.stop && opt.stop->load(std::memory_order_relaxed))) {
        LassoDualActiveSet das(X, out.target, bp.target(), out.limit);
        out.lasso = das.solve(beta, tol_abs, opt.stop);
    }
    return out;
}

}  // namespace netmirror

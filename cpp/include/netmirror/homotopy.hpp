// The Lasso at small beta by following its solution path up from beta = 0 (Osborne, Presnell & Turlach 2000;
// Efron, Hastie, Johnstone & Tibshirani 2004), starting at the basic solution of the beta -> 0+ limit
// (basis_pursuit.hpp).
//
// Between kinks the solution is linear in beta: with support S, signs s and M = X_S^T X_S,
//     z_S(beta) = z_S(beta0) - (beta - beta0) M^{-1} s,   r(beta) = r(beta0) + (beta - beta0) X_S M^{-1} s,
// and an inactive correlation c_j = x_j^T r moves at rate a_j = x_j^T X_S M^{-1} s. A kink is a coefficient
// reaching 0 (it leaves) or |c_j| reaching beta (it enters, if its column is independent of X_S and its
// coefficient then moves the right way; otherwise it is a tie and stays at zero). The support stays linearly
// independent, so every iterate is a basic solution. Up from the limit, only the few kinks below the target beta
// are visited: that is why tiny beta costs no more than the limit itself.
//
// The path is followed over a working set of columns; one pass over every column then certifies the end point
// (the Lasso duality gap); violators enter the working set and the path is followed again from the limit.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "basis_pursuit.hpp"
#include "linalg.hpp"

namespace netmirror {

struct HomotopyOutput {
    std::vector<double> coef;  // z (length cols)
    std::vector<double> dual;  // theta, the rescaled residual in the weighted space (dual feasible)
    double objective = 0.0, gap = 0.0;  // in the weighted space: 1/2 ||y_t - X z||^2 + beta ||z||_1
    int64_t kinks = 0, passes = 0, ties = 0;  // kinks: entries and exits; ties: refused entries
    bool converged = false;
};

class LassoHomotopy {
public:
    // X: the columns; yt: the target in X's space (WeightedColumns::target, not projected on the span);
    // limit: the basis pursuit solution (its basis starts the path).
    // yhat: yt's projection on the columns' span (BasisPursuit::target()); yt - yhat is orthogonal to every column.
    LassoHomotopy(const WeightedColumns& X, const std::vector<double>& yt, const std::vector<double>& yhat,
                  const BasisPursuitOutput& limit)
        : X_(X), n_(X.rows()), m_(X.cols()), yt_(yt), yhat_(yhat), limit_(limit) {}

    HomotopyOutput solve(double beta, double tol_abs, int64_t max_passes = 20) {
        HomotopyOutput out;
        rank_ = limit_.rank;
        std::vector<int64_t> usable;
        for (int64_t j = 0; j < m_; ++j)
            if (X_.usable(j)) usable.push_back(j);
        index_.assign(static_cast<size_t>(m_), -1);
        ws_.clear();
        cols_.clear();
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
        std::vector<double> corr(usable.size());
        for (out.passes = 1; out.passes <= max_passes; ++out.passes) {
            follow(beta, out.kinks, out.ties);
            // Certify over every column. The residual splits into r_perp = yt - yhat, orthogonal to the columns
            // (its correlations are rounding), and r_par = yhat - X z, of size O(beta): only r_par is rescaled
            // into the dual-feasible set. Rescaling all of r would cost the dual (scale - 1) ||r_perp||^2, a
            // floor far above tol when beta is tiny and y is not fitted exactly.
            std::vector<double> r = residual(), rperp(static_cast<size_t>(n_)), rpar(static_cast<size_t>(n_));
            for (int64_t i = 0; i < n_; ++i) rperp[i] = yt_[i] - yhat_[i], rpar[i] = yhat_[i] - (yt_[i] - r[i]);
            std::vector<double> cperp(usable.size());
            X_.correlations(rpar.data(), usable.data(), static_cast<int64_t>(usable.size()), corr.data());
            X_.correlations(rperp.data(), usable.data(), static_cast<int64_t>(usable.size()), cperp.data());
            double scale = 1.0;
            bool split = true;
            std::vector<std::pair<double, int64_t>> viol;
            for (size_t k = 0; k < usable.size(); ++k) {
                const double a = std::abs(corr[k] + cperp[k]), room = beta - std::abs(cperp[k]);
                if (!(room > 0.0)) split = false;
                else scale = std::max(scale, std::abs(corr[k]) / room);
                if (a > beta * (1.0 + 1e-9) && index_[usable[k]] < 0) viol.emplace_back(-a, usable[k]);
            }
            if (!split) {  // the rounding of r_perp's correlations exceeds beta: rescale the whole residual
                scale = 1.0;
                for (size_t k = 0; k < usable.size(); ++k) scale = std::max(scale, std::abs(corr[k] + cperp[k]) / beta);
                for (int64_t i = 0; i < n_; ++i) rpar[i] = r[i], rperp[i] = 0.0;
            }
            double l1 = 0.0, rr = 0.0, d = 0.0;
            for (size_t p = 0; p < S_.size(); ++p) l1 += std::abs(z_[p]);
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
            if (out.converged || viol.empty()) break;
            const size_t take = std::min(viol.size(), static_cast<size_t>(std::max<int64_t>(16, n_ / 4)));
            std::partial_sort(viol.begin(), viol.begin() + static_cast<std::ptrdiff_t>(take), viol.end());
            for (size_t k = 0; k < take; ++k) add(viol[k].second);
        }
        out.passes = std::min(out.passes, max_passes);
        out.coef.assign(static_cast<size_t>(m_), 0.0);
        for (size_t p = 0; p < S_.size(); ++p) out.coef[ws_[S_[p]]] = z_[p];
        return out;
    }

private:
    const WeightedColumns& X_;
    int64_t n_, m_;
    const std::vector<double>& yt_;
    const std::vector<double>& yhat_;
    const BasisPursuitOutput& limit_;
    std::vector<int64_t> index_, ws_;  // column -> working-set position; working set
    std::vector<double> cols_;         // working-set columns, n each
    std::vector<int64_t> S_;           // support (working-set positions), in QR order
    std::vector<double> z_;            // its coefficients
    UpdatedQR qr_;
    static constexpr double kRankTol = 1e-11, kRateTol = 1e-8;
    int64_t rank_ = 0;

    void add(int64_t j) {
        if (index_[j] >= 0) return;
        index_[j] = static_cast<int64_t>(ws_.size());
        ws_.push_back(j);
        cols_.resize(ws_.size() * static_cast<size_t>(n_));
        X_.column(j, cols_.data() + (ws_.size() - 1) * static_cast<size_t>(n_));
    }
    const double* col(int64_t p) const { return cols_.data() + p * n_; }

    std::vector<double> residual() const {
        std::vector<double> r = yt_;
        for (size_t q = 0; q < S_.size(); ++q) {
            const double* x = col(S_[q]);
            for (int64_t i = 0; i < n_; ++i) r[i] -= z_[q] * x[i];
        }
        return r;
    }

    // delta = M^{-1} s through the QR of X_S (R^T R delta = s).
    void direction(const std::vector<double>& s, std::vector<double>& delta) const {
        delta = s;
        qr_.solve_rt(delta.data());
        qr_.solve_r(delta.data());
    }

    // Start at the limit's basic solution (beta = 0) and follow the path up to beta over the working set.
    void follow(double beta_target, int64_t& kinks, int64_t& ties) {
        qr_.reset(n_, n_);
        S_.clear();
        z_.clear();
        std::vector<double> s;
        for (int64_t j : limit_.basis) {
            const double zj = limit_.coef[j];
            if (zj == 0.0) continue;
            double dist;
            if (!qr_.append(col(index_[j]), kRankTol, dist)) continue;
            S_.push_back(index_[j]);
            z_.push_back(zj);
            s.push_back(zj > 0 ? 1.0 : -1.0);
        }
        const int64_t k = static_cast<int64_t>(ws_.size());
        std::vector<char> in_s(static_cast<size_t>(k), 0), skip(static_cast<size_t>(k), 0);
        for (int64_t p : S_) in_s[p] = 1;
        // Correlations at beta = 0: those of the least-squares residual (zero up to rounding when y is fitted).
        std::vector<double> c(static_cast<size_t>(k)), a(static_cast<size_t>(k)), delta, v(static_cast<size_t>(n_));
        auto refresh = [&] {
            const std::vector<double> r = residual();
            for (int64_t p = 0; p < k; ++p) c[p] = dot(col(p), r.data(), n_);
        };
        refresh();
        double beta = 0.0;
        const int64_t cap = 20 * n_ + 200;
        for (int64_t step = 0; step < cap && beta < beta_target; ++step) {
            direction(s, delta);
            std::fill(v.begin(), v.end(), 0.0);
            for (size_t q = 0; q < S_.size(); ++q) {
                const double* x = col(S_[q]);
                for (int64_t i = 0; i < n_; ++i) v[i] += delta[q] * x[i];
            }
            for (int64_t p = 0; p < k; ++p)
                if (!in_s[p]) a[p] = dot(col(p), v.data(), n_);
            for (size_t q = 0; q < S_.size(); ++q) a[S_[q]] = s[q];  // on the support c = beta s
            double h = beta_target - beta;
            int64_t event = -1;  // >= 0: working-set position entering; < 0 - 1: support slot leaving
            for (size_t q = 0; q < S_.size(); ++q)
                if (z_[q] != 0.0 && delta[q] != 0.0 && (z_[q] > 0) == (delta[q] > 0)) {  // moving towards 0
                    const double hq = z_[q] / delta[q];
                    if (hq < h) h = hq, event = -2 - static_cast<int64_t>(q);
                }
            // Entries: none while the support spans the columns (every other column is then tied); rates within
            // kRateTol of 1 are ties at the limit's dual (the LP's pricing tolerance), not entries.
            for (int64_t p = 0; p < k && qr_.size() < rank_; ++p) {
                if (in_s[p] || skip[p]) continue;
                double hp = std::numeric_limits<double>::infinity();
                if (a[p] > 1.0 + kRateTol) hp = std::max(0.0, beta - c[p]) / (a[p] - 1.0);
                if (a[p] < -1.0 - kRateTol) hp = std::min(hp, std::max(0.0, beta + c[p]) / (-a[p] - 1.0));
                if (hp < h) h = hp, event = p;
            }
            for (size_t q = 0; q < S_.size(); ++q) z_[q] -= h * delta[q];
            for (int64_t p = 0; p < k; ++p) c[p] += h * a[p];
            beta += h;
            if (event == -1) break;
            if (event <= -2) {  // a coefficient reached zero: it leaves (and may not re-enter at once)
                const size_t q = static_cast<size_t>(-2 - event);
                qr_.remove(static_cast<int64_t>(q));
                in_s[S_[q]] = 0;
                std::fill(skip.begin(), skip.end(), 0);
                skip[S_[q]] = 1;
                S_.erase(S_.begin() + static_cast<std::ptrdiff_t>(q));
                z_.erase(z_.begin() + static_cast<std::ptrdiff_t>(q));
                s.erase(s.begin() + static_cast<std::ptrdiff_t>(q));
            } else {  // a correlation reached beta: enter if independent and moving the right way
                const int64_t p = event;
                const double sp = c[p] > 0 ? 1.0 : -1.0;
                double dist;
                if (!qr_.append(col(p), kRankTol, dist)) {
                    skip[p] = 1;
                    ++ties;
                    continue;
                }
                s.push_back(sp);
                direction(s, delta);
                if (!(delta.back() * sp < 0.0)) {  // z_p = -h delta_p must take the sign of its correlation
                    qr_.remove(qr_.size() - 1);
                    s.pop_back();
                    skip[p] = 1;
                    ++ties;
                    continue;
                }
                S_.push_back(p);
                z_.push_back(0.0);
                in_s[p] = 1;  // refused ties stay refused until a column leaves (the span shrinks)
            }
            if (++kinks % 32 == 0) refresh();  // drop the rounding of the incremental updates
        }
        // Exact values on the final support: z_S = M^{-1} (X_S^T y - beta s).
        if (!S_.empty()) {
            std::vector<double> b(S_.size());
            for (size_t q = 0; q < S_.size(); ++q) b[q] = dot(col(S_[q]), yt_.data(), n_) - beta_target * s[q];
            qr_.solve_rt(b.data());
            qr_.solve_r(b.data());
            bool signs_hold = true;
            for (size_t q = 0; q < S_.size(); ++q) signs_hold = signs_hold && (b[q] == 0.0 || (b[q] > 0) == (s[q] > 0));
            if (signs_hold) z_ = b;
        }
    }
};

}  // namespace netmirror

namespace netmirror {

// The Lasso at beta >= 0 from its beta -> 0+ limit: basis pursuit, then (beta > 0) the path up to beta.
// Everything is in the weighted space of WeightedColumns (rows scaled by sqrt(w), intercept projected out).
struct SparseLimitOutput {
    BasisPursuitOutput limit;
    HomotopyOutput path;       // empty when beta == 0
    std::vector<double> target;  // P sqrt(w) y (before its projection on the span)
};

inline SparseLimitOutput lasso_from_limit(const DesignMatrix& A, const double* y, const double* w, bool fit_intercept,
                                          double beta, double tol_abs, const BasisPursuitOptions& opt) {
    WeightedColumns X(A, w, fit_intercept, opt.threads);
    SparseLimitOutput out;
    out.target = X.target(y);
    BasisPursuit bp(X, y, opt);
    out.limit = bp.solve();
    if (beta > 0.0) {
        LassoHomotopy path(X, out.target, bp.target(), out.limit);
        out.path = path.solve(beta, tol_abs);
    }
    return out;
}

}  // namespace netmirror

// Exact finish of a Lasso working-set solve: an active-set (feature-sign) method on the gathered, centred
// working-set columns, run by LassoSolver::inner_solve (lasso.hpp) once coordinate descent has settled on a
// support and signs. It solves the reduced problem (A_S^T P A_S) z_S = A_S^T P y - beta s through a QR of the
// support updated as columns enter and leave, with exact line searches on the piecewise-quadratic objective and
// KKT re-entry (Lee, Battle, Raina & Ng 2007; Osborne, Presnell & Turlach 2000), so that the gap can fall to
// rounding level on nearly collinear neural-network dictionaries. Details: docs/lasso.md, "Speed", item 5.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "linalg.hpp"
#include "matrix.hpp"

namespace netmirror {

namespace detail {

inline double soft_threshold(double u, double t) { return u > t ? u - t : (u < -t ? u + t : 0.0); }

inline double sq_norm(const std::vector<double>& v) {
    double s = 0.0;
    for (double x : v) s += x * x;
    return s;
}

}  // namespace detail

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

}  // namespace netmirror

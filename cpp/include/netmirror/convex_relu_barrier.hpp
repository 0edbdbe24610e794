// Interior-point solve of the convex ReLU program on a working set of groups (convex_relu.hpp):
//
//   min_u 1/2 ||y - sum_g s_g D_g X u_g||^2 + beta sum_g ||u_g||   s.t.  (2 D_g - I) X u_g >= 0,
//
// by the primal barrier method (Boyd & Vandenberghe 11.3). Block coordinate descent finds the optimal face of
// this degenerate problem slowly when beta is small (adjacent chambers' columns differ in one row); the central
// path goes to the analytic centre of the optimal set in a few dozen Newton steps whatever the coupling, and
// its groups' sizes then tell the support apart (docs/convex_relu.md, "Solver").
//
// - The norm's epigraph t_g >= ||u_g|| is eliminated: min_t tau beta t - log(t^2 - ||u||^2) has the closed
//   form psi(u) = w - log(1 + w) + const, w = sqrt(1 + (tau beta ||u||)^2), a smooth barrier-regularised
//   tau beta ||u|| whose Hessian in u alone is far better conditioned than the second-order cone's in (u, t)
//   (tau beta / ||u|| against tau^2 across the cone boundary). Each group keeps its barrier parameter 2.
// - Linear constraints: -sum_i log(s_i x_i^T u / ||x_i||) over the rows with x_i != 0.
// - Newton systems: H = blockdiag(B_g) + tau A^T A with k x k blocks B_g (Cholesky) and A = [s_g D_g X]; by
//   Woodbury only an N x N matrix I / tau + sum_g A_g B_g^{-1} A_g^T is factorised; two steps of iterative
//   refinement against the operator H recover what the Woodbury form loses near the boundary.
// - Start: every group at a small multiple of its cone's largest-margin direction (max_margin_direction);
//   groups whose cone has no interior are left out (returned as zero).
// - After each centring: the working set's certified gap (theta = r rescaled) and Gap Safe screening of the
//   groups, which drops the inactive ones (they dominate nu and the ill-conditioning).
// - Stop: that gap or nu / tau <= target (nu = sum_g (2 + rows)), a Newton budget, the stop flag (also
//   polled inside each Newton step's assembly and the direct system's Gram), or a
//   factorisation that fails (the ill-conditioning near the optimum); every iterate is strictly feasible, so
//   the last one is returned either way. At a centred point theta = r is dual feasible for the working set with
//   gap nu / tau.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "linalg.hpp"
#include "parallel.hpp"
#include "relu_arrangement.hpp"

namespace netmirror {

struct BarrierOptions {
    double beta = 1.0;
    double target = 1e-8;       // absolute: stop once nu / tau <= target
    double growth = 20.0;       // tau <- growth * tau after each centring
    int64_t max_newton = 400;   // Newton steps in all
    int threads = 0;
    const std::atomic<bool>* stop = nullptr;
};

struct BarrierResult {
    std::vector<double> coef;  // (groups, k) row-major; zero for groups left out
    double tau = 0.0, nu = 0.0, objective = 0.0;
    int64_t newton = 0;
    bool reached = false;      // nu / tau <= target
};

// Groups are given as (pattern index, sign): sign +1 is a v group (adds D_p X u), -1 a w group.
class GroupBarrier {
public:
    GroupBarrier(const double* X, int64_t n, int64_t k, const double* y, const PatternSet& pats)
        : X_(X), n_(n), k_(k), y_(y), pats_(pats), cone_(X, n, k), unit_(static_cast<size_t>(n * k), 0.0) {
        for (int64_t i = 0; i < n; ++i) {
            const double nrm = relu_detail::norm2(X + i * k, k);
            if (!(nrm > 0.0)) continue;
            rows_.push_back(i);
            for (int64_t j = 0; j < k; ++j) unit_[i * k + j] = X[i * k + j] / nrm;
        }
    }

    // Newton-step cost (flops) of a working set of `groups` groups whose patterns have sum_active2 = sum of
    // (active rows)^2: the cheaper of the Woodbury form (an N x N system) and the direct one (K = groups * k).
    static double step_flops(int64_t n, int64_t k, int64_t groups, double sum_active2) {
        const double N = static_cast<double>(n), K = static_cast<double>(groups) * k, G = static_cast<double>(groups);
        const double woodbury = 0.5 * sum_active2 * k + N * N * N / 3.0;
        const double direct = K * K * K / 3.0 + 2.0 * K * K;
        return std::min(woodbury, direct) + 2.0 * G * N * k * k;
    }
    // The Newton systems are solved directly (K x K, K = groups * k) when that costs fewer flops than
    // Woodbury's N x N form.
    static bool use_direct(int64_t n, int64_t k, int64_t groups, double sum_active2) {
        const double N = static_cast<double>(n), K = static_cast<double>(groups) * k;
        return K * K * K / 3.0 + 2.0 * K * K < 0.5 * sum_active2 * k + N * N * N / 3.0;
    }
    // Working memory (bytes) of solve() on `groups` groups with sum_active active rows in all (sum_active2 their
    // squares): the unit rows and cone projector, per group its rows, slacks and k x k blocks, and the Woodbury
    // N x N matrices (one per thread and their sum) or the direct K x K Gram and factor with the n x K columns.
    static double working_bytes(int64_t n, int64_t k, int64_t groups, double sum_active, double sum_active2,
                                int threads) {
        const double N = static_cast<double>(n), kd = static_cast<double>(k), G = static_cast<double>(groups);
        const double K = G * kd;
        const double base = 8.0 * N * (4.0 * kd + 8.0);
        const double per_group = 8.0 * (2.0 * N + 6.0 * kd + 2.0 * kd * kd) + 8.0 * N;  // + max-margin scratch
        const double system = use_direct(n, k, groups, sum_active2) ? 8.0 * (2.0 * K * K + K * N)
                                                                    : 8.0 * N * N * (std::max(threads, 1) + 1.0);
        return base + G * per_group + 8.0 * sum_active + system;
    }
    int64_t active_rows(int64_t p) const {
        int64_t c = 0;
        for (int64_t w = 0; w < pats_.words; ++w) c += __builtin_popcountll(pats_.row(p)[w]);
        return c;
    }

    BarrierResult solve(const std::vector<int64_t>& pattern, const std::vector<double>& sign, const BarrierOptions& opt) {
        const int64_t k = k_;
        threads_ = opt.threads > 0 ? opt.threads : default_num_threads();
        stop_ = opt.stop;
        beta_ = opt.beta;
        BarrierResult res;
        res.coef.assign(pattern.size() * static_cast<size_t>(k), 0.0);
        // Groups with an interior start.
        groups_.clear();
        std::vector<double> dir(static_cast<size_t>(k));
        for (size_t a = 0; a < pattern.size(); ++a) {
            const double margin = max_margin_direction(X_, n_, k, pats_.row(pattern[a]), dir.data());
            if (!(margin > 1e-10)) continue;
            Group g;
            g.slot = static_cast<int64_t>(a);
            g.pattern = pattern[a];
            g.sign = sign[a];
            for (int64_t w = 0; w < pats_.words; ++w) {
                uint64_t b = pats_.row(g.pattern)[w];
                while (b) {
                    const int64_t i = w * 64 + __builtin_ctzll(b);
                    b &= b - 1;
                    if (i < n_) g.active.push_back(i);
                }
            }
            g.u = dir;
            for (int64_t i : g.active) g.frobenius += relu_detail::dotk(X_ + i * k, X_ + i * k, k);
            g.frobenius = std::sqrt(g.frobenius);
            groups_.push_back(std::move(g));
        }
        if (groups_.empty()) return res;
        // Groups of one pattern side by side: they share their columns (newton_step adds them to M once).
        std::stable_sort(groups_.begin(), groups_.end(), [](const Group& a, const Group& b) { return a.pattern < b.pattern; });
        const int64_t G = static_cast<int64_t>(groups_.size());
        double nu = barrier_parameter();
        res.nu = nu;
        const double p0 = 0.5 * relu_detail::dotk(y_, y_, n_);
        if (!(p0 > 0.0)) return res;
        // Scale the start so that the groups' fits together are about as large as y.
        double fit = 0.0;
        std::vector<double> col(static_cast<size_t>(n_));
        for (const Group& g : groups_) {
            double s2 = 0.0;
            for (int64_t i : g.active) {
                const double v = relu_detail::dotk(X_ + i * k, g.u.data(), k);
                s2 += v * v;
            }
            fit += std::sqrt(s2);
        }
        const double scale = fit > 0.0 ? std::sqrt(2.0 * p0) / fit : 1.0;
        for (Group& g : groups_)
            for (double& x : g.u) x *= scale;

        // Newton systems: direct (K x K, with the Gram of the groups' columns computed once) when that is cheaper
        // than Woodbury's N x N one.
        double sum_a2 = 0.0;
        for (const Group& g : groups_) sum_a2 += static_cast<double>(g.active.size()) * static_cast<double>(g.active.size());
        direct_ = use_direct(n_, k, G, sum_a2);
        if (direct_) gram();

        double tau = nu / p0;
        int64_t newton = 0;
        bool failed = false;
        r_.assign(static_cast<size_t>(n_), 0.0);
        for (;;) {
            // Centring at tau.
            for (;;) {
                if (newton >= opt.max_newton || stopped()) {
                    failed = true;
                    break;
                }
                ++newton;
                const int step = newton_step(tau);
                if (step < 0) {  // factorisation failed: keep the last (feasible) iterate
                    failed = true;
                    break;
                }
                if (step == 0) break;  // centred
            }
            if (failed) break;
            res.tau = tau;
            // The working set's certified gap, and safe screening: groups that are zero at its optimum leave,
            // which lowers nu (the inactive groups' barrier terms dominate it) and the conditioning of the rest.
            std::vector<char> keep;
            const double gap = screen(keep);
            if (nu / tau <= opt.target || gap <= opt.target) {  // the centred point, before any group leaves
                res.reached = true;
                break;
            }
            drop(keep);
            nu = barrier_parameter();
            res.nu = nu;
            if (groups_.empty()) break;
            tau *= opt.growth;
        }
        res.newton = newton;
        residual();
        double pen = 0.0;
        for (const Group& g : groups_) {
            pen += relu_detail::norm2(g.u.data(), k);
            std::copy(g.u.begin(), g.u.end(), res.coef.begin() + g.slot * k);
        }
        res.objective = 0.5 * relu_detail::dotk(r_.data(), r_.data(), n_) + beta_ * pen;
        return res;
    }

private:
    struct Group {
        int64_t slot = 0, pattern = 0;
        double sign = 1.0;
        std::vector<int64_t> active;  // rows where the pattern is on (the group's columns)
        std::vector<double> u, grad, hess, chol, step, tmp, slack, dslack;  // slack[q]: row rows_[q]
        double uu = 0.0, us = 0.0, ss = 0.0;
        double frobenius = 0.0;  // ||s_g D_g X||_F >= its spectral norm (screening)
    };

    const double* X_;
    int64_t n_, k_;
    const double* y_;
    const PatternSet& pats_;
    ConeProjector cone_;
    std::vector<double> unit_;   // x_i / ||x_i||
    std::vector<int64_t> rows_;  // rows with x_i != 0: one constraint each
    std::vector<Group> groups_;
    std::vector<double> r_, M_;  // residual; Woodbury's N x N factor, or the direct K x K one
    std::vector<double> gram_;   // direct: A^T A over the groups' columns (K x K)
    std::vector<double> astep_;  // A step
    bool direct_ = false;
    int threads_ = 1;
    double beta_ = 1.0;
    const std::atomic<bool>* stop_ = nullptr;

    bool stopped() const { return stop_ && stop_->load(std::memory_order_relaxed); }

    double constraint_sign(const Group& g, int64_t i) const {
        return ((pats_.row(g.pattern)[i >> 6] >> (i & 63)) & 1u) ? 1.0 : -1.0;
    }

    // Certified gap of the working-set problem at the current iterate, theta = r rescaled into its dual feasible
    // set, and Gap Safe screening (Fercoq et al. 2015, for groups: the cone projection is non-expansive): group g
    // is zero at the working set's optimum if ||Proj_{K_g}(A_g^T theta)|| + ||A_g||_F sqrt(2 gap) < beta
    // (keep[g] = 0 then). Returns the gap.
    double screen(std::vector<char>& keep) {
        const int64_t k = k_;
        residual();
        const int64_t G = static_cast<int64_t>(groups_.size());
        std::vector<double> dual_norm(static_cast<size_t>(G));
        parallel_for(0, G, static_cast<int>(chunks()), [&](int64_t lo, int64_t hi) {
            std::vector<double> c(static_cast<size_t>(k)), p(static_cast<size_t>(k));
            for (int64_t gi = lo; gi < hi; ++gi) {
                const Group& g = groups_[gi];
                std::fill(c.begin(), c.end(), 0.0);
                for (int64_t i : g.active)
                    for (int64_t j = 0; j < k; ++j) c[j] += g.sign * X_[i * k + j] * r_[i];
                dual_norm[gi] = cone_.project(pats_.row(g.pattern), c.data(), p.data());
            }
        }, 32);
        double bound = 0.0, pen = 0.0;
        for (int64_t gi = 0; gi < G; ++gi) {
            bound = std::max(bound, dual_norm[gi]);
            pen += relu_detail::norm2(groups_[gi].u.data(), k);
        }
        const double scale = std::max(1.0, bound / beta_);
        double dual = 0.0;
        for (int64_t i = 0; i < n_; ++i) dual += r_[i] / scale * y_[i] - 0.5 * (r_[i] / scale) * (r_[i] / scale);
        const double primal = 0.5 * relu_detail::dotk(r_.data(), r_.data(), n_) + beta_ * pen;
        const double gap = std::max(primal - dual, 0.0), radius = std::sqrt(2.0 * gap);
        keep.assign(static_cast<size_t>(G), 1);
        for (int64_t gi = 0; gi < G; ++gi) keep[gi] = dual_norm[gi] / scale + groups_[gi].frobenius * radius >= beta_;
        return gap;
    }

    // nu of the barrier: 2 per group (its epigraph) plus one per constraint row of each group.
    double barrier_parameter() const {
        return static_cast<double>(groups_.size()) * (2.0 + static_cast<double>(rows_.size()));
    }

    // Removes the groups screen() found zero at the optimum (their u was O(1 / tau)); rebuilds the direct
    // system's Gram.
    void drop(const std::vector<char>& keep) {
        const int64_t G = static_cast<int64_t>(groups_.size());
        int64_t count = 0;
        for (char c : keep) count += c != 0;
        if (count == G) return;
        std::vector<Group> kept;
        kept.reserve(static_cast<size_t>(count));
        for (int64_t gi = 0; gi < G; ++gi)
            if (keep[gi]) kept.push_back(std::move(groups_[gi]));
        groups_.swap(kept);
        if (direct_) gram();
        residual();
    }

    // r = y - sum_g s_g D_g X u_g.
    void residual() {
        std::copy(y_, y_ + n_, r_.begin());
        for (const Group& g : groups_)
            for (int64_t i : g.active) r_[i] -= g.sign * relu_detail::dotk(X_ + i * k_, g.u.data(), k_);
    }

    // Barrier objective tau P(u) + sum psi + linear barrier at u + a * step; +inf outside the domain. Uses what
    // newton_step precomputed: slacks and their change along the step, the fit's change A step, and per group
    // u^T u, u^T step, step^T step (the objective along the line costs logarithms, not products with X).
    double merit(double tau, double a) {
        const double c = tau * beta_;
        std::vector<double> part(static_cast<size_t>(threads_), 0.0);
        std::atomic<bool> outside{false};
        for_groups([&](int64_t t, int64_t lo, int64_t hi) {
            double bar = 0.0;
            for (int64_t gi = lo; gi < hi && !outside; ++gi) {
                const Group& g = groups_[gi];
                const int64_t m = static_cast<int64_t>(g.slack.size());
                // sum log s over products of 8 (s is at most ||u|| and rarely below 1e-30: no overflow)
                for (int64_t i0 = 0; i0 < m; i0 += 8) {
                    double prod = 1.0;
                    const int64_t i1 = std::min(m, i0 + 8);
                    for (int64_t i = i0; i < i1; ++i) {
                        const double si = g.slack[i] + a * g.dslack[i];
                        if (!(si > 0.0)) {
                            outside = true;
                            break;
                        }
                        prod *= si;
                    }
                    if (outside) break;
                    if (prod > 1e-280 && prod < 1e280) {
                        bar -= std::log(prod);
                    } else {
                        for (int64_t i = i0; i < i1; ++i) bar -= std::log(g.slack[i] + a * g.dslack[i]);
                    }
                }
                const double vv = std::max(0.0, g.uu + 2.0 * a * g.us + a * a * g.ss);
                const double w = std::sqrt(1.0 + c * c * vv);
                bar += w - std::log1p(w);
            }
            part[t] = bar;
        });
        if (outside) return std::numeric_limits<double>::infinity();
        double fit = 0.0;
        for (int64_t i = 0; i < n_; ++i) {
            const double ri = r_[i] - a * astep_[i];
            fit += ri * ri;
        }
        double bar = 0.0;
        for (double b : part) bar += b;
        return 0.5 * tau * fit + bar;
    }

    // Threads worth starting for a pass over the groups: one per ~2^16 flops of a Newton step's per-group work
    // (rows x k^2; a thread start costs about that much; small working sets run on the calling thread).
    int64_t chunks() const {
        const int64_t work = static_cast<int64_t>(groups_.size()) * (n_ + 1) * k_ * k_;
        return std::max<int64_t>(1, std::min<int64_t>(threads_, work >> 16));
    }

    // Chunks of the groups, one per thread.
    template <class Fn>
    void for_groups(Fn&& fn) {
        const int64_t G = static_cast<int64_t>(groups_.size());
        const int64_t T = chunks();
        parallel_for(0, T, static_cast<int>(T), [&](int64_t lo, int64_t hi) {
            for (int64_t t = lo; t < hi; ++t) fn(t, t * G / T, (t + 1) * G / T);
        });
    }

    // Gram A^T A of the groups' columns s_g D_g X (K x K, K = groups * k), full.
    void gram() {
        const int64_t k = k_, G = static_cast<int64_t>(groups_.size()), K = G * k;
        std::vector<double> F(static_cast<size_t>(K * n_), 0.0);  // column c of A at F[c * n]
        for (int64_t gi = 0; gi < G; ++gi) {
            const Group& g = groups_[gi];
            for (int64_t i : g.active)
                for (int64_t j = 0; j < k; ++j) F[(gi * k + j) * n_ + i] = g.sign * X_[i * k + j];
        }
        gram_.assign(static_cast<size_t>(K * K), 0.0);
        parallel_for(0, K, threads_, [&](int64_t lo, int64_t hi) {
            for (int64_t a = lo; a < hi && !stopped(); ++a)  // stopped: solve() returns before using it
                for (int64_t b = 0; b <= a; ++b)
                    gram_[a * K + b] = relu_detail::dotk(F.data() + a * n_, F.data() + b * n_, n_);
        }, 16);
        for (int64_t a = 0; a < K; ++a)
            for (int64_t b = a + 1; b < K; ++b) gram_[a * K + b] = gram_[b * K + a];
    }

    // x <- H^{-1} b for the groups' b (in g.tmp), result in g.tmp; uses the factors of newton_step.
    void hsolve() {
        const int64_t k = k_;
        if (direct_) {
            const int64_t K = static_cast<int64_t>(groups_.size()) * k;
            std::vector<double> x(static_cast<size_t>(K));
            for (size_t gi = 0; gi < groups_.size(); ++gi) std::copy(groups_[gi].tmp.begin(), groups_[gi].tmp.end(), x.begin() + gi * k);
            cholesky_solve(M_.data(), K, x.data());
            for (size_t gi = 0; gi < groups_.size(); ++gi)
                std::copy(x.begin() + gi * k, x.begin() + (gi + 1) * k, groups_[gi].tmp.begin());
            return;
        }
        std::vector<double> v(static_cast<size_t>(n_), 0.0);
        for (Group& g : groups_) {
            double* x = g.tmp.data();
            cholesky_solve(g.chol.data(), k, x);
            for (int64_t i : g.active) v[i] += g.sign * relu_detail::dotk(X_ + i * k, x, k);
        }
        cholesky_solve(M_.data(), n_, v.data());  // v <- M^{-1} v
        std::vector<double> c(static_cast<size_t>(k));
        for (Group& g : groups_) {
            std::fill(c.begin(), c.end(), 0.0);
            for (int64_t i : g.active)
                for (int64_t j = 0; j < k; ++j) c[j] += g.sign * X_[i * k + j] * v[i];
            cholesky_solve(g.chol.data(), k, c.data());
            for (int64_t j = 0; j < k; ++j) g.tmp[j] -= c[j];
        }
    }

    // One damped Newton step on the barrier objective at tau. Returns 1 (moved), 0 (centred: decrement small
    // or no descent left), -1 (a factorisation failed).
    int newton_step(double tau) {
        const int64_t k = k_, n = n_;
        const double c = tau * beta_;
        residual();
        const int64_t T = chunks();
        std::vector<std::vector<double>> Mpart(static_cast<size_t>(T));
        std::atomic<bool> bad{false};
        for_groups([&](int64_t t, int64_t lo, int64_t hi) {
            std::vector<double>& M = Mpart[t];
            if (!direct_) M.assign(static_cast<size_t>(n * n), 0.0);
            std::vector<double> B(static_cast<size_t>(k * k)), a(static_cast<size_t>(k)), Csum(static_cast<size_t>(k * k), 0.0),
                XT, Y, row;
            for (int64_t gi = lo; gi < hi; ++gi) {
                if (stopped()) {  // a stop request: give up the step (the iterate stays the last feasible one)
                    bad = true;
                    return;
                }
                Group& g = groups_[gi];
                g.grad.assign(static_cast<size_t>(k), 0.0);
                std::fill(B.begin(), B.end(), 0.0);
                // Linear barrier: gradient -sum a_i / s_i, Hessian sum a_i a_i^T / s_i^2 (a_i = sign x_i / ||x_i||).
                g.slack.resize(rows_.size());
                for (size_t q = 0; q < rows_.size(); ++q) {
                    const int64_t i = rows_[q];
                    const double sg = constraint_sign(g, i);
                    for (int64_t j = 0; j < k; ++j) a[j] = sg * unit_[i * k + j];
                    const double s = relu_detail::dotk(a.data(), g.u.data(), k), inv = 1.0 / s;
                    g.slack[q] = s;
                    for (int64_t j = 0; j < k; ++j) {
                        g.grad[j] -= a[j] * inv;
                        for (int64_t l = 0; l <= j; ++l) B[j * k + l] += a[j] * a[l] * inv * inv;
                    }
                }
                // Data term: -tau s_g X_g^T r.
                for (int64_t i : g.active)
                    for (int64_t j = 0; j < k; ++j) g.grad[j] -= tau * g.sign * X_[i * k + j] * r_[i];
                // psi: gradient c^2 u / (1 + w); Hessian c^2/(1+w) (I - uu^T/|u|^2) + c^2/(w(1+w)) uu^T/|u|^2
                // (the radial term written separately: 1 - c^2|u|^2/(w(1+w)) = 1/w would cancel).
                const double un2 = relu_detail::dotk(g.u.data(), g.u.data(), k);
                const double w = std::sqrt(1.0 + c * c * un2);
                const double perp = c * c / (1.0 + w), radial = perp / w;
                for (int64_t j = 0; j < k; ++j) g.grad[j] += perp * g.u[j];
                for (int64_t j = 0; j < k; ++j)
                    for (int64_t l = 0; l <= j; ++l) {
                        const double uu = un2 > 0.0 ? g.u[j] * g.u[l] / un2 : 0.0;
                        B[j * k + l] += perp * ((j == l) - uu) + radial * uu;
                    }
                for (int64_t j = 0; j < k; ++j)
                    for (int64_t l = j + 1; l < k; ++l) B[j * k + l] = B[l * k + j];
                g.hess = B;
                if (direct_) continue;
                g.chol = B;
                if (!cholesky_lower(g.chol.data(), k)) {
                    bad = true;
                    return;
                }
                // Woodbury: M += A_g B_g^{-1} A_g^T = X_act B_g^{-1} X_act^T (s_g^2 = 1). Groups of one pattern are
                // adjacent (solve() sorts them): their inverses are summed and X_act C X_act^T is added once.
                for (int64_t j = 0; j < k; ++j) {
                    std::fill(a.begin(), a.end(), 0.0);
                    a[j] = 1.0;
                    cholesky_solve(g.chol.data(), k, a.data());
                    for (int64_t l = 0; l < k; ++l) Csum[j * k + l] += a[l];
                }
                const bool last = gi + 1 == hi || groups_[gi + 1].pattern != g.pattern;
                if (!last) continue;
                // Y = C X_act^T (k x m) and X_act^T (k x m), both row-major in k, so each row of the m x m block
                // is a contiguous axpy; then scattered into M's lower triangle.
                const int64_t m = static_cast<int64_t>(g.active.size());
                XT.resize(static_cast<size_t>(k * m));
                Y.assign(static_cast<size_t>(k * m), 0.0);
                for (int64_t q = 0; q < m; ++q)
                    for (int64_t j = 0; j < k; ++j) XT[j * m + q] = X_[g.active[q] * k + j];
                for (int64_t j = 0; j < k; ++j)
                    for (int64_t l = 0; l < k; ++l) {
                        const double cjl = Csum[j * k + l];
                        for (int64_t q = 0; q < m; ++q) Y[j * m + q] += cjl * XT[l * m + q];
                    }
                row.resize(static_cast<size_t>(m));
                for (int64_t q = 0; q < m; ++q) {
                    std::fill(row.begin(), row.begin() + q + 1, 0.0);
                    for (int64_t j = 0; j < k; ++j) {
                        const double yq = Y[j * m + q];
                        const double* xt = XT.data() + j * m;
                        for (int64_t p = 0; p <= q; ++p) row[p] += yq * xt[p];
                    }
                    double* Mrow = M.data() + g.active[q] * n;
                    for (int64_t p = 0; p <= q; ++p) Mrow[g.active[p]] += row[p];
                }
                std::fill(Csum.begin(), Csum.end(), 0.0);
            }
        });
        if (bad) return -1;
        if (direct_) {
            // H = tau A^T A + blockdiag(B_g), factored in place.
            const int64_t K = static_cast<int64_t>(groups_.size()) * k;
            M_.resize(static_cast<size_t>(K * K));
            for (int64_t e = 0; e < K * K; ++e) M_[e] = tau * gram_[e];
            for (size_t gi = 0; gi < groups_.size(); ++gi)
                for (int64_t j = 0; j < k; ++j)
                    for (int64_t l = 0; l < k; ++l) M_[(gi * k + j) * K + gi * k + l] += groups_[gi].hess[j * k + l];
            if (!cholesky_lower(M_.data(), K)) return -1;
        } else {
        // M = I / tau + sum (lower triangle: active rows are increasing, so row >= column above).
        M_.assign(static_cast<size_t>(n * n), 0.0);
        for (const auto& M : Mpart)
            for (int64_t e = 0; e < n * n; ++e) M_[e] += M[e];
        for (int64_t i = 0; i < n; ++i) M_[i * n + i] += 1.0 / tau;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = i + 1; j < n; ++j) M_[i * n + j] = M_[j * n + i];
        if (!cholesky_lower(M_.data(), n)) return -1;
        }

        // Newton direction with two rounds of iterative refinement: step = H^{-1}(-grad).
        for (Group& g : groups_) {
            g.tmp.resize(static_cast<size_t>(k));
            for (int64_t j = 0; j < k; ++j) g.tmp[j] = -g.grad[j];
        }
        hsolve();
        for (Group& g : groups_) g.step = g.tmp;
        for (int refine = 0; refine < 2; ++refine) {
            // residual of H step = -grad, H = blockdiag(B_g) + tau A^T A
            std::vector<double> Ax(static_cast<size_t>(n), 0.0), a(static_cast<size_t>(k));
            for (const Group& g : groups_)
                for (int64_t i : g.active) Ax[i] += g.sign * relu_detail::dotk(X_ + i * k, g.step.data(), k);
            for (Group& g : groups_) {
                for (int64_t j = 0; j < k; ++j) a[j] = relu_detail::dotk(g.hess.data() + j * k, g.step.data(), k);
                for (int64_t i : g.active)
                    for (int64_t j = 0; j < k; ++j) a[j] += tau * g.sign * X_[i * k + j] * Ax[i];
                for (int64_t j = 0; j < k; ++j) g.tmp[j] = -g.grad[j] - a[j];
            }
            hsolve();
            for (Group& g : groups_)
                for (int64_t j = 0; j < k; ++j) g.step[j] += g.tmp[j];
        }
        double lam2 = 0.0;
        for (const Group& g : groups_) lam2 -= relu_detail::dotk(g.grad.data(), g.step.data(), k);
        if (!std::isfinite(lam2)) return -1;
        // Along the step: slack changes, A step, and the groups' quadratic forms; the largest step keeping every
        // constraint strictly positive (99% of the way to the boundary).
        astep_.assign(static_cast<size_t>(n), 0.0);
        for (const Group& g : groups_)
            for (int64_t i : g.active) astep_[i] += g.sign * relu_detail::dotk(X_ + i * k, g.step.data(), k);
        std::vector<double> amax_part(static_cast<size_t>(threads_), 1.0);
        for_groups([&](int64_t t, int64_t lo, int64_t hi) {
            double am = 1.0;
            for (int64_t gi = lo; gi < hi; ++gi) {
                Group& g = groups_[gi];
                g.dslack.resize(rows_.size());
                for (size_t q = 0; q < rows_.size(); ++q) {
                    const int64_t i = rows_[q];
                    const double ds = constraint_sign(g, i) * relu_detail::dotk(unit_.data() + i * k, g.step.data(), k);
                    g.dslack[q] = ds;
                    if (ds < 0.0) am = std::min(am, -0.99 * g.slack[q] / ds);
                }
                g.uu = relu_detail::dotk(g.u.data(), g.u.data(), k);
                g.us = relu_detail::dotk(g.u.data(), g.step.data(), k);
                g.ss = relu_detail::dotk(g.step.data(), g.step.data(), k);
            }
            amax_part[t] = am;
        });
        const double amax = *std::min_element(amax_part.begin(), amax_part.end());
        const double f0 = merit(tau, 0.0);
        // Centred: the decrement is small, or the decrease it promises is below the rounding of the merit
        // function (a line search could then only chase noise).
        if (lam2 <= 2e-8 || 0.5 * lam2 <= 1e-13 * std::abs(f0)) return 0;
        double alpha = amax;
        for (;;) {
            const double f = merit(tau, alpha);
            if (f <= f0 - 0.25 * alpha * lam2) break;
            alpha *= 0.5;
            // No descent: rounding. Newton's full step is accepted near the centre, so a tiny decrement that
            // needs damping is rounding too.
            if (alpha < 1e-12 * amax || (lam2 < 1e-2 && alpha < 1e-3 * amax)) return 0;
        }
        for (Group& g : groups_)
            for (int64_t j = 0; j < k; ++j) g.u[j] += alpha * g.step[j];
        return 1;
    }
};

}  // namespace netmirror

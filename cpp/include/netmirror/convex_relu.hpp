// Convex two-layer ReLU networks (Pilanci & Ergen): the cone-constrained group Lasso
//
//   min_{v, w} 1/2 ||sum_i D_i X (v_i - w_i) - y||^2 + beta sum_i (||v_i|| + ||w_i||)
//   s.t. (2 D_i - I) X v_i >= 0,  (2 D_i - I) X w_i >= 0,
//
// over activation patterns D_i = diag(1[X u >= 0]) of the hyperplane arrangement of the rows of X (N, k),
// and its certificate. Derivation, scaling and the certificate: docs/convex_relu.md. Patterns and cone
// projections: relu_arrangement.hpp; the interior-point working-set solve: convex_relu_barrier.hpp.
//
// - Solver: a primal barrier method on a working set of groups finds the optimal face (when its Newton
//   systems are affordable); block coordinate descent (one proximal step per group, step 1/lambda_max of its
//   k x k Gram) and Newton's method on the face finish it. The outer loop is the working-set driver of
//   working_set.hpp: one full pass per outer iteration gives the dual point (residual rescaled so that
//   ||Proj_{K_i}(+-X^T D_i theta)|| <= beta for every pattern), the gap and the next working set.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "convex_relu_barrier.hpp"
#include "linalg.hpp"
#include "parallel.hpp"
#include "relu_arrangement.hpp"
#include "working_set.hpp"

namespace netmirror {

struct ConvexReluOptions {
    double beta = 1.0;
    double tol = 1e-8;           // relative: stop when gap <= tol * 1/2 ||y||^2
    int64_t max_iter = 200;      // outer iterations (full passes over the patterns)
    int64_t max_epochs = 1000;   // block-CD epochs per working-set solve
    int64_t ws_start = 16;       // first working-set size (groups)
    // Interior-point solves of a working set (convex_relu_barrier.hpp), at most max_barrier per fit: on every
    // group first when a Newton step on all of them costs at most barrier_small_flops, and whenever three outer
    // iterations of block CD together fail to halve the gap, on the support and the groups of largest dual
    // score (at most 4 x the working set, and barrier_flops per Newton step).
    int64_t max_barrier = 3;
    double barrier_small_flops = 4e6;
    double barrier_flops = 4e7;
    // Working memory (bytes) the optional stages (interior-point solves, Newton polish) may take on top of the
    // solver's own arrays; a stage that would need more is skipped. 0: no cap. (The Python layer checks the
    // solver's own arrays against the memory limit first and passes what is left.)
    double max_bytes = 0.0;
    int threads = 0;
    bool verbose = false;
    const std::atomic<bool>* stop = nullptr;
};

struct ConvexReluOutput {
    std::vector<double> V, W, dual;   // V, W: (P, k) row-major; dual: theta (n)
    double objective = 0.0, dual_objective = 0.0, gap = 0.0, p0 = 0.0, relative_gap = 0.0;
    int64_t n_iter = 0, n_epochs = 0;
    bool converged = false;
};

// Cone-constrained group Lasso over the patterns. Group g < P is v_g (sign +1), group P + g is w_g (sign -1):
// both use pattern g's columns D_g X and cone K_g.
class ConvexReluSolver {
public:
    ConvexReluSolver(const double* X, int64_t n, int64_t k, const double* y, const PatternSet& pats,
                     const ConvexReluOptions& opt)
        : X_(X), n_(n), k_(k), y_(y, y + n), pats_(pats), opt_(opt), cone_(X, n, k), P_(pats.size()) {
        if (!(opt.beta > 0.0)) throw std::invalid_argument("beta must be positive");
        if (pats.n != n) throw std::invalid_argument("patterns must have one bit per row of X");
        threads_ = opt.threads > 0 ? opt.threads : default_num_threads();
        p0_ = 0.5 * relu_detail::dotk(y, y, n);
    }

    // init: optional warm start, 2P x k (the v groups, then the w groups), projected onto the cones.
    ConvexReluOutput solve(const double* init = nullptr) {
        const int64_t G = 2 * P_, k = k_;
        coef_.assign(static_cast<size_t>(G * k), 0.0);
        if (init) {
            std::vector<double> p(static_cast<size_t>(k));
            for (int64_t g = 0; g < G; ++g) {
                cone_.project(pats_.row(pattern_of(g)), init + g * k, p.data());
                std::copy(p.begin(), p.end(), coef_.begin() + g * k);
            }
        }
        ConvexReluOutput out;
        out.p0 = p0_;
        theta_best_.assign(static_cast<size_t>(n_), 0.0);
        dual_best_ = 0.0;  // theta = 0 is feasible, D(0) = 0
        if (p0_ == 0.0 || P_ == 0) {
            residual_from_scratch();
            return finish(out, primal_value(), 0.0, true, 0);
        }
        score_.assign(static_cast<size_t>(G), 0.0);
        history_.clear();
        WorkingSetOptions wo;
        wo.tol_abs = opt_.tol * p0_;
        wo.max_iter = opt_.max_iter;
        wo.ws_start = opt_.ws_start;
        wo.verbose = opt_.verbose;
        wo.stop = opt_.stop;
        const WorkingSetResult res = run_working_set(*this, wo);
        return finish(out, res.primal, std::max(res.gap, 0.0), res.converged, res.n_iter);
    }

private:
    const double* X_;
    int64_t n_, k_;
    std::vector<double> y_;
    const PatternSet& pats_;
    ConvexReluOptions opt_;
    ConeProjector cone_;
    int64_t P_;
    int threads_ = 1;
    double p0_ = 0.0;
    std::vector<double> coef_, r_, theta_best_;
    std::vector<double> score_;    // per group: this pass's dual norm bound (working-set priorities)
    std::vector<double> history_;  // certified gap per outer iteration
    double dual_best_ = 0.0;
    int64_t epochs_ = 0, polishes_ = 0, barriers_ = 0;
    std::vector<double> lipschitz_;  // per pattern: largest eigenvalue of X^T D X (bound), < 0 until computed

    bool stopped() const { return opt_.stop && opt_.stop->load(std::memory_order_relaxed); }
    bool affordable(double bytes) const { return !(opt_.max_bytes > 0.0) || bytes <= opt_.max_bytes; }
    bool nonzero(int64_t g) const {
        for (int64_t j = 0; j < k_; ++j)
            if (coef_[g * k_ + j] != 0.0) return true;
        return false;
    }
    int64_t pattern_of(int64_t g) const { return g < P_ ? g : g - P_; }
    double sign_of(int64_t g) const { return g < P_ ? 1.0 : -1.0; }

    // out = X^T D_p v (k).
    void masked_tmul(int64_t p, const double* v, double* out) const {
        std::fill(out, out + k_, 0.0);
        const uint64_t* bits = pats_.row(p);
        for (int64_t w = 0; w < pats_.words; ++w) {
            uint64_t b = bits[w];
            while (b) {
                const int64_t i = w * 64 + __builtin_ctzll(b);
                b &= b - 1;
                const double vi = v[i];
                for (int64_t j = 0; j < k_; ++j) out[j] += X_[i * k_ + j] * vi;
            }
        }
    }

    // r -= c D_p X delta.
    void masked_update(int64_t p, const double* delta, double c, std::vector<double>& r) const {
        const uint64_t* bits = pats_.row(p);
        for (int64_t w = 0; w < pats_.words; ++w) {
            uint64_t b = bits[w];
            while (b) {
                const int64_t i = w * 64 + __builtin_ctzll(b);
                b &= b - 1;
                r[i] -= c * relu_detail::dotk(X_ + i * k_, delta, k_);
            }
        }
    }

    void residual_from_scratch() {
        r_ = y_;
        for (int64_t g = 0; g < 2 * P_; ++g)
            if (nonzero(g)) masked_update(pattern_of(g), coef_.data() + g * k_, sign_of(g), r_);
    }

    double primal_value() const {
        double pen = 0.0;
        for (int64_t g = 0; g < 2 * P_; ++g) pen += relu_detail::norm2(coef_.data() + g * k_, k_);
        return 0.5 * relu_detail::dotk(r_.data(), r_.data(), n_) + opt_.beta * pen;
    }

    // ---- the working-set driver's hooks (working_set.hpp) ----
    template <class Problem>
    friend WorkingSetResult run_working_set(Problem&, const WorkingSetOptions&);

    // Dual candidate: the residual, rescaled by its largest group dual norm over all patterns.
    WorkingSetPass full_pass() {
        residual_from_scratch();
        const double primal = primal_value();
        const double bound = full_pass(r_, score_);
        consider_dual(r_, bound);
        return {primal, dual_best_};
    }

    void report(int64_t it, double primal, double gap) const {
        std::fprintf(stderr, "netmirror.convex_relu: iter %lld  primal %.12e  gap %.3e (rel %.3e)\n",
                     static_cast<long long>(it), primal, gap, gap / p0_);
    }

    void screen(double) {}
    int64_t candidates() const { return 2 * P_; }

    int64_t nnz() const {
        int64_t nnz = 0;
        for (int64_t g = 0; g < 2 * P_; ++g) nnz += nonzero(g);
        return nnz;
    }

    // The barrier finds the optimal face first, and again when block CD stalls on it (three outer iterations
    // that together fail to halve the gap).
    bool outer_step(const WorkingSetStep& step) {
        const int64_t it = step.it;
        history_.push_back(step.gap);
        const bool stalled = it >= 3 && step.gap > 0.5 * history_[static_cast<size_t>(it - 3)];
        return barriers_ < opt_.max_barrier && (it == 0 || stalled) &&
               barrier_solve(score_, step.tol_abs, it == 0 ? 0 : std::max<int64_t>(4 * step.ws_size, 64),
                             it == 0 ? opt_.barrier_small_flops : opt_.barrier_flops);
    }

    // Support first, then the groups of largest dual score.
    void priorities(std::vector<std::pair<double, int64_t>>& prio) const {
        prio.reserve(static_cast<size_t>(2 * P_));
        for (int64_t g = 0; g < 2 * P_; ++g)
            prio.emplace_back(nonzero(g) ? -std::numeric_limits<double>::infinity() : -score_[g], g);
    }

    void inner_solve(const std::vector<int64_t>& ws, const WorkingSetStep& step) {
        const int64_t e0 = epochs_, p0 = polishes_;
        inner_solve(ws, step.tol_inner);
        if (opt_.verbose)
            std::fprintf(stderr, "netmirror.convex_relu:   %lld nonzero groups, working set %lld, %lld epochs, %lld polishes\n",
                         static_cast<long long>(step.nnz), static_cast<long long>(step.ws_size),
                         static_cast<long long>(epochs_ - e0), static_cast<long long>(polishes_ - p0));
    }

    // Interior-point solve on a working set: the support, then groups by decreasing dual score, at most
    // max_groups of them (0: all groups, and only if they all fit) while a Newton step stays within `flops`.
    // Groups it leaves below 1e-6 of the largest group norm are zeroed (they are inactive at the optimum, of
    // size O(1 / tau)); block CD and the Newton polish take it from there. False if the working set would
    // hold no group outside the support, or the barrier did not move.
    bool barrier_solve(const std::vector<double>& score, double tol_abs, int64_t max_groups, double flops) {
        const int64_t G = 2 * P_, k = k_;
        std::vector<std::pair<double, int64_t>> prio;
        prio.reserve(static_cast<size_t>(G));
        for (int64_t g = 0; g < G; ++g)
            prio.emplace_back(nonzero(g) ? -std::numeric_limits<double>::infinity() : -score[g], g);
        std::sort(prio.begin(), prio.end());
        GroupBarrier barrier(X_, n_, k, y_.data(), pats_);
        std::vector<int64_t> groups, pattern;
        std::vector<double> sign;
        double sum_a = 0.0, sum_a2 = 0.0;
        int64_t fresh = 0;
        for (const auto& pg : prio) {
            const int64_t g = pg.second;
            const double a = static_cast<double>(barrier.active_rows(pattern_of(g)));
            const double f = GroupBarrier::step_flops(n_, k, static_cast<int64_t>(groups.size()) + 1, sum_a2 + a * a);
            if (f > flops || (max_groups > 0 && static_cast<int64_t>(groups.size()) >= max_groups)) break;
            sum_a += a;
            sum_a2 += a * a;
            groups.push_back(g);
            pattern.push_back(pattern_of(g));
            sign.push_back(sign_of(g));
            fresh += !nonzero(g);
        }
        if (fresh == 0 || (max_groups == 0 && static_cast<int64_t>(groups.size()) < G)) return false;
        const int64_t used = static_cast<int64_t>(groups.size());
        if (!affordable(GroupBarrier::working_bytes(n_, k, used, sum_a, sum_a2, threads_) + 8.0 * used * k))
            return false;
        ++barriers_;
        BarrierOptions bo;
        bo.beta = opt_.beta;
        bo.target = std::max(0.1 * tol_abs, 1e-8 * p0_);  // the face, not the last digits
        bo.threads = threads_;
        bo.stop = opt_.stop;
        const BarrierResult res = barrier.solve(pattern, sign, bo);
        if (opt_.verbose)
            std::fprintf(stderr, "netmirror.convex_relu:   barrier on %lld groups: %lld Newton steps, tau %.2e, "
                         "nu/tau %.2e, objective %.12e\n", static_cast<long long>(groups.size()),
                         static_cast<long long>(res.newton), res.tau, res.tau > 0 ? res.nu / res.tau : 0.0,
                         res.objective);
        if (res.newton == 0) return false;
        // Keep the barrier's point only if it lowers the objective (a working set missing groups, or a stop at
        // moderate tau, can leave it above the current iterate).
        residual_from_scratch();
        const double before = primal_value();
        const std::vector<double> saved = coef_;
        double largest = 0.0;
        for (size_t a = 0; a < groups.size(); ++a) largest = std::max(largest, relu_detail::norm2(res.coef.data() + a * k, k));
        if (!(largest > 0.0)) return false;
        std::vector<double> p(static_cast<size_t>(k));
        for (size_t a = 0; a < groups.size(); ++a) {
            const double* u = res.coef.data() + a * k;
            double* cur = coef_.data() + groups[a] * k;
            if (relu_detail::norm2(u, k) <= 1e-6 * largest) {
                std::fill(cur, cur + k, 0.0);
                continue;
            }
            cone_.project(pats_.row(pattern_of(groups[a])), u, p.data());  // strictly inside already; rounding
            std::copy(p.begin(), p.end(), cur);
        }
        // One proximal sweep over the nonzero groups: the inactive ones the threshold kept (a loose target
        // leaves them larger) have dual norms below beta and drop to zero.
        residual_from_scratch();
        std::vector<double> c(static_cast<size_t>(k)), u(static_cast<size_t>(k)), z(static_cast<size_t>(k)),
            delta(static_cast<size_t>(k));
        for (int64_t g : groups)
            if (nonzero(g)) update_group(g, c, u, z, p, delta);
        residual_from_scratch();
        if (!(primal_value() < before)) {
            coef_ = saved;
            residual_from_scratch();
            return false;
        }
        return true;
    }

    // Upper bound on the dual norms ||Proj_{K_p}(s X^T D_p v)|| of every group; score[g] holds group g's.
    // ||Proj_K c|| <= ||c||: the projection is needed only where ||c|| > beta.
    double full_pass(const std::vector<double>& v, std::vector<double>& score) {
        parallel_for(0, P_, threads_, [&](int64_t lo, int64_t hi) {
            std::vector<double> c(static_cast<size_t>(k_)), neg(static_cast<size_t>(k_)), p(static_cast<size_t>(k_));
            for (int64_t q = lo; q < hi; ++q) {
                masked_tmul(q, v.data(), c.data());
                const double cn = relu_detail::norm2(c.data(), k_);
                double sv = cn, sw = cn;
                if (cn > opt_.beta * (1.0 - 1e-9)) {
                    for (int64_t j = 0; j < k_; ++j) neg[j] = -c[j];
                    sv = cone_.project(pats_.row(q), c.data(), p.data());
                    sw = cone_.project(pats_.row(q), neg.data(), p.data());
                }
                score[q] = sv;
                score[P_ + q] = sw;
            }
        }, 64);
        return score.empty() ? 0.0 : *std::max_element(score.begin(), score.end());
    }

    void consider_dual(const std::vector<double>& v, double bound) {
        const double scale = std::max(1.0, bound / opt_.beta);
        double d = 0.0;
        std::vector<double> theta(static_cast<size_t>(n_));
        for (int64_t i = 0; i < n_; ++i) {
            theta[i] = v[i] / scale;
            d += theta[i] * y_[i] - 0.5 * theta[i] * theta[i];
        }
        if (d > dual_best_) {
            dual_best_ = d;
            theta_best_.swap(theta);
        }
    }

    // Largest eigenvalue of the Gram X^T D_p X (cyclic Jacobi on k x k), cached per pattern (only the number:
    // caching the k x k Grams of every visited pattern took P k^2 doubles). A stop request ends the sweeps
    // with Gershgorin's bound on the rotated matrix, still >= the largest eigenvalue: steps stay safe.
    double lipschitz(int64_t p) {
        if (lipschitz_.empty()) lipschitz_.assign(static_cast<size_t>(P_), -1.0);
        if (lipschitz_[p] >= 0.0) return lipschitz_[p];
        const int64_t k = k_;
        std::vector<double> A(static_cast<size_t>(k * k), 0.0);
        const uint64_t* bits = pats_.row(p);
        for (int64_t i = 0; i < n_; ++i) {
            if (!((bits[i >> 6] >> (i & 63)) & 1u)) continue;
            const double* xi = X_ + i * k;
            for (int64_t a = 0; a < k; ++a)
                for (int64_t b = 0; b < k; ++b) A[a * k + b] += xi[a] * xi[b];
        }
        bool bounded = false;
        for (int sweep = 0; sweep < 60; ++sweep) {
            double off = 0.0, diag = 0.0;
            for (int64_t a = 0; a < k; ++a)
                for (int64_t b = 0; b < k; ++b) (a == b ? diag : off) += A[a * k + b] * A[a * k + b];
            if (off <= 1e-30 * diag) break;
            for (int64_t a = 0; a < k && !(bounded = stopped()); ++a)  // a sweep is 2 k^3 flops
                for (int64_t b = a + 1; b < k; ++b) {
                    const double apq = A[a * k + b];
                    if (apq == 0.0) continue;
                    const double tau = (A[b * k + b] - A[a * k + a]) / (2.0 * apq);
                    const double t = (tau >= 0 ? 1.0 : -1.0) / (std::abs(tau) + std::sqrt(1.0 + tau * tau));
                    const double c = 1.0 / std::sqrt(1.0 + t * t), s = t * c;
                    for (int64_t q = 0; q < k; ++q) {  // A <- J^T A J
                        const double x = A[q * k + a], z = A[q * k + b];
                        A[q * k + a] = c * x - s * z;
                        A[q * k + b] = s * x + c * z;
                    }
                    for (int64_t q = 0; q < k; ++q) {
                        const double x = A[a * k + q], z = A[b * k + q];
                        A[a * k + q] = c * x - s * z;
                        A[b * k + q] = s * x + c * z;
                    }
                }
            if (bounded) break;
        }
        double lmax = 0.0;
        for (int64_t a = 0; a < k; ++a) {
            double row = A[a * k + a];
            if (bounded)
                for (int64_t b = 0; b < k; ++b) row += b == a ? 0.0 : std::abs(A[a * k + b]);
            lmax = std::max(lmax, row);
        }
        lmax *= 1.0 + 1e-12;  // a step 1/L never overshoots through the eigenvalue's rounding
        if (!bounded) lipschitz_[p] = lmax;
        return lmax;
    }

    // Group g (others fixed): f(u) = 1/2 ||b - s D X u||^2 + beta ||u||, u in K: a proximal gradient step
    // u = prox(v + c / L), c = s X^T D r, L the largest eigenvalue of the group's Gram.
    void update_group(int64_t g, std::vector<double>& c, std::vector<double>& u, std::vector<double>& z,
                      std::vector<double>& p, std::vector<double>& delta) {
        const int64_t q = pattern_of(g), k = k_;
        const double s = sign_of(g);
        const double L = lipschitz(q);
        if (!(L > 0.0)) return;
        double* cur = coef_.data() + g * k;
        masked_tmul(q, r_.data(), c.data());
        for (int64_t j = 0; j < k; ++j) c[j] *= s;  // c = s X^T D r: minus the gradient at the current point
        // One proximal step with the group's own Lipschitz constant (more steps per visit, with the residual
        // frozen, were measured slower: the groups are strongly coupled).
        for (int64_t a = 0; a < k; ++a) z[a] = cur[a] + c[a] / L;
        const double pn = cone_.project(pats_.row(q), z.data(), p.data());
        const double shrink = pn > 0.0 ? std::max(0.0, 1.0 - opt_.beta / (L * pn)) : 0.0;
        for (int64_t a = 0; a < k; ++a) u[a] = shrink * p[a];
        bool changed = false;
        for (int64_t a = 0; a < k; ++a) {
            delta[a] = u[a] - cur[a];
            changed |= delta[a] != 0.0;
        }
        if (!changed) return;
        masked_update(q, delta.data(), s, r_);
        std::copy(u.begin(), u.end(), cur);
    }

    // Nonzero groups of the working set and their tight cone constraints: a fingerprint of the face the
    // iterate is on (support, then active rows), to trigger the Newton polish when it repeats.
    uint64_t face_pattern(const std::vector<int64_t>& ws) const {
        uint64_t h = 1469598103934665603ull;
        for (int64_t g : ws) {
            if (!nonzero(g)) continue;
            h = (h ^ static_cast<uint64_t>(g)) * 1099511628211ull;
            std::vector<int64_t> tight;
            tight_rows(g, tight);
            for (int64_t i : tight) h = (h ^ static_cast<uint64_t>(i + 1) << 1) * 1099511628211ull;
        }
        return h;
    }

    // Rows whose cone constraint is tight for group g (relative to ||x_i|| ||v_g||).
    void tight_rows(int64_t g, std::vector<int64_t>& out) const {
        out.clear();
        const double* v = coef_.data() + g * k_;
        const double vn = relu_detail::norm2(v, k_);
        for (int64_t i = 0; i < n_; ++i) {
            const double xn = relu_detail::norm2(X_ + i * k_, k_);
            if (xn > 0.0 && std::abs(relu_detail::dotk(X_ + i * k_, v, k_)) <= 1e-6 * xn * vn) out.push_back(i);
        }
    }

    // Newton's method on the face: every nonzero group g moves in the null space Z_g of its tight constraints,
    // v_g = Z_g t_g, where the objective 1/2 ||r||^2 + beta sum ||t_g|| is smooth (Z_g orthonormal). Steps
    // stop at the first other constraint that would turn negative and backtrack on the true objective, so
    // every accepted step is feasible and lowers P. Returns true if the iterate moved. Skipped when its n x K
    // block and K x K systems exceed opt.max_bytes; a stop request ends it between (and inside) steps, at the
    // last accepted (feasible) point.
    bool polish(const std::vector<int64_t>& ws) {
        const int64_t k = k_;
        bool moved = false;
        for (int round = 0; round < 20 && !stopped(); ++round) {
            std::vector<int64_t> groups, offset;
            std::vector<std::vector<double>> Z;  // per group: k x kg, column-major
            std::vector<int64_t> tight;
            int64_t K = 0;
            for (int64_t g : ws) {
                if (!nonzero(g)) continue;
                tight_rows(g, tight);
                std::vector<double> q;  // orthonormal normals of the tight rows
                auto orth = [&](std::vector<double>& v) {
                    for (int pass = 0; pass < 2; ++pass)
                        for (size_t o = 0; o < q.size(); o += static_cast<size_t>(k)) {
                            const double c = relu_detail::dotk(q.data() + o, v.data(), k);
                            for (int64_t j = 0; j < k; ++j) v[j] -= c * q[o + j];
                        }
                };
                std::vector<double> v(static_cast<size_t>(k));
                for (int64_t i : tight) {
                    std::copy(X_ + i * k, X_ + (i + 1) * k, v.begin());
                    const double before = relu_detail::norm2(v.data(), k);
                    orth(v);
                    const double after = relu_detail::norm2(v.data(), k);
                    if (after > 1e-8 * before) {
                        for (double& x : v) x /= after;
                        q.insert(q.end(), v.begin(), v.end());
                    }
                }
                const int64_t rank = static_cast<int64_t>(q.size()) / k;
                std::vector<double> z;
                for (int64_t e = 0; e < k && static_cast<int64_t>(q.size()) / k < k; ++e) {
                    std::fill(v.begin(), v.end(), 0.0);
                    v[e] = 1.0;
                    orth(v);
                    const double nv = relu_detail::norm2(v.data(), k);
                    if (nv > 0.5) {
                        for (double& x : v) x /= nv;
                        q.insert(q.end(), v.begin(), v.end());
                        z.insert(z.end(), v.begin(), v.end());
                    }
                }
                if (static_cast<int64_t>(z.size()) / k != k - rank || z.empty()) continue;
                groups.push_back(g);
                offset.push_back(K);
                K += static_cast<int64_t>(z.size()) / k;
                Z.push_back(std::move(z));
            }
            if (groups.empty()) return moved;
            const double Kd = static_cast<double>(K);
            if (!affordable(8.0 * (static_cast<double>(n_) * Kd + 3.0 * Kd * Kd + (k + 6.0) * Kd))) return moved;
            // B = [s_g D_g X Z_g] (n x K, column-major), t = Z^T v.
            std::vector<double> B(static_cast<size_t>(n_ * K), 0.0), t(static_cast<size_t>(K));
            for (size_t a = 0; a < groups.size(); ++a) {
                const int64_t g = groups[a], kg = static_cast<int64_t>(Z[a].size()) / k;
                const uint64_t* bits = pats_.row(pattern_of(g));
                for (int64_t c = 0; c < kg; ++c) {
                    const double* zc = Z[a].data() + c * k;
                    t[offset[a] + c] = relu_detail::dotk(zc, coef_.data() + g * k, k);
                    double* col = B.data() + (offset[a] + c) * n_;
                    for (int64_t i = 0; i < n_; ++i)
                        if ((bits[i >> 6] >> (i & 63)) & 1u) col[i] = sign_of(g) * relu_detail::dotk(X_ + i * k, zc, k);
                }
            }
            auto write_back = [&](const std::vector<double>& tt) {
                for (size_t a = 0; a < groups.size(); ++a) {
                    const int64_t g = groups[a], kg = static_cast<int64_t>(Z[a].size()) / k;
                    double* v = coef_.data() + g * k;
                    std::fill(v, v + k, 0.0);
                    for (int64_t c = 0; c < kg; ++c)
                        for (int64_t j = 0; j < k; ++j) v[j] += tt[offset[a] + c] * Z[a][c * k + j];
                }
                residual_from_scratch();
                return primal_value();
            };
            double F = write_back(t);
            bool blocked = false;
            std::vector<double> grad(static_cast<size_t>(K)), H(static_cast<size_t>(K * K)), step(static_cast<size_t>(K)),
                trial(static_cast<size_t>(K));
            for (int newton = 0; newton < 30 && !stopped(); ++newton) {
                for (int64_t c = 0; c < K; ++c) grad[c] = -relu_detail::dotk(B.data() + c * n_, r_.data(), n_);
                for (int64_t a = 0; a < K && !stopped(); ++a)  // K^2 n / 2: the long part
                    for (int64_t b = 0; b <= a; ++b)
                        H[a * K + b] = H[b * K + a] = relu_detail::dotk(B.data() + a * n_, B.data() + b * n_, n_);
                if (stopped()) break;
                for (size_t a = 0; a < groups.size(); ++a) {
                    const int64_t o = offset[a], kg = static_cast<int64_t>(Z[a].size()) / k;
                    const double tn = relu_detail::norm2(t.data() + o, kg);
                    for (int64_t c = 0; c < kg; ++c) {
                        grad[o + c] += opt_.beta * t[o + c] / tn;
                        for (int64_t e = 0; e < kg; ++e)
                            H[(o + c) * K + o + e] += opt_.beta / tn * ((c == e) - t[o + c] * t[o + e] / (tn * tn));
                    }
                }
                // step = (H + mu I)^{-1} grad, move along -step. Groups spanning the same fit directions make H
                // singular (the fit is flat there): a Levenberg-Marquardt shift keeps the step a descent one.
                bool solved = false;
                double mu = 0.0, hmax = 0.0;
                for (int64_t a = 0; a < K; ++a) hmax = std::max(hmax, H[a * K + a]);
                for (int attempt = 0; attempt < 8 && !solved; ++attempt, mu = mu == 0.0 ? 1e-12 * hmax : 100.0 * mu) {
                    std::vector<double> Hs = H;
                    for (int64_t a = 0; a < K; ++a) Hs[a * K + a] += mu;
                    solved = solve_spd(Hs, K, grad, step);
                }
                if (!solved) break;
                double decrement = 0.0;
                for (int64_t c = 0; c < K; ++c) decrement += grad[c] * step[c];
                if (!(decrement > 1e-30 * (p0_ + F))) break;
                // Backtracking on the true objective; a trial point outside a group's cone is projected back
                // onto it (many constraints can become tight in one step), and the face is then rebuilt.
                double alpha = 1.0, Fnew = F;
                bool accepted = false, projected = false;
                for (int back = 0; back < 40; ++back, alpha *= 0.5) {
                    for (int64_t c = 0; c < K; ++c) trial[c] = t[c] - alpha * step[c];
                    write_back(trial);
                    projected = project_groups(groups);
                    residual_from_scratch();
                    Fnew = primal_value();
                    if (Fnew < F) {
                        accepted = true;
                        break;
                    }
                }
                if (!accepted) {
                    F = write_back(t);
                    break;
                }
                t = trial;
                F = Fnew;
                moved = true;
                if (projected) {
                    blocked = true;
                    break;
                }
                if (decrement < 1e-28 * p0_) break;
            }
            if (!blocked) break;
        }
        return moved;
    }

    // Projects each listed group onto its cone where it left it; true if any moved.
    bool project_groups(const std::vector<int64_t>& groups) {
        std::vector<double> p(static_cast<size_t>(k_));
        bool any = false;
        for (int64_t g : groups) {
            double* v = coef_.data() + g * k_;
            const double before = relu_detail::norm2(v, k_);
            cone_.project(pats_.row(pattern_of(g)), v, p.data());
            double moved = 0.0;
            for (int64_t j = 0; j < k_; ++j) moved += (p[j] - v[j]) * (p[j] - v[j]);
            if (moved > 0.0) {
                std::copy(p.begin(), p.end(), v);
                any |= std::sqrt(moved) > 1e-14 * before;
            }
        }
        return any;
    }

    // Cholesky solve of the SPD system H x = b (H K x K, overwritten); false if H is not numerically SPD.
    static bool solve_spd(std::vector<double>& H, int64_t K, const std::vector<double>& b, std::vector<double>& x) {
        if (!cholesky_lower(H.data(), K, 1e-14)) return false;
        x = b;
        cholesky_solve(H.data(), K, x.data());
        return true;
    }

    void inner_solve(const std::vector<int64_t>& ws, double tol_inner) {
        const int64_t k = k_;
        std::vector<double> c(static_cast<size_t>(k)), u(static_cast<size_t>(k)), z(static_cast<size_t>(k)),
            p(static_cast<size_t>(k)), delta(static_cast<size_t>(k));
        uint64_t prev_face = 0, tried_face = 0;
        for (int64_t epoch = 1; epoch <= opt_.max_epochs; ++epoch) {
            ++epochs_;
            for (int64_t g : ws) update_group(g, c, u, z, p, delta);
            if (stopped()) break;
            if (epoch % 10 != 0) continue;
            // Once the face repeats between two checks, solve on it by Newton's method.
            const uint64_t face = face_pattern(ws);
            if (face != tried_face && (face == prev_face || epoch % 50 == 0)) {
                tried_face = face;
                ++polishes_;
                polish(ws);
            }
            prev_face = face;
            // Gap of the working-set problem (its groups only).
            residual_from_scratch();
            const double primal = primal_value();
            double bound = 0.0;
            for (int64_t g : ws) {
                masked_tmul(pattern_of(g), r_.data(), c.data());
                for (int64_t j = 0; j < k; ++j) c[j] *= sign_of(g);
                bound = std::max(bound, cone_.project(pats_.row(pattern_of(g)), c.data(), p.data()));
            }
            const double scale = std::max(1.0, bound / opt_.beta);
            double d = 0.0;
            for (int64_t i = 0; i < n_; ++i) d += r_[i] / scale * y_[i] - 0.5 * (r_[i] / scale) * (r_[i] / scale);
            if (primal - d <= tol_inner || stopped()) break;
        }
    }

    ConvexReluOutput& finish(ConvexReluOutput& out, double primal, double gap, bool converged, int64_t it) {
        out.V.assign(coef_.begin(), coef_.begin() + P_ * k_);
        out.W.assign(coef_.begin() + P_ * k_, coef_.end());
        out.dual = theta_best_;
        out.objective = primal;
        out.dual_objective = dual_best_;
        out.gap = gap;
        out.relative_gap = p0_ > 0.0 ? gap / p0_ : 0.0;
        out.converged = converged;
        out.n_iter = it;
        out.n_epochs = epochs_;
        return out;
    }
};

inline ConvexReluOutput convex_relu(const double* X, int64_t n, int64_t k, const double* y, const PatternSet& pats,
                                    const ConvexReluOptions& opt, const double* init = nullptr) {
    ConvexReluSolver solver(X, n, k, y, pats, opt);
    return solver.solve(init);
}

}  // namespace netmirror

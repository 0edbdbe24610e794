// Activation patterns of a ReLU unit on the rows of X and the cones behind them: the chambers of the
// hyperplane arrangement {u : x_n^T u = 0}, distinct patterns of sampled or enumerated directions, and the
// projection onto a pattern's cone K_p = {u : (2 D_p - I) X u >= 0}. Used by the convex two-layer ReLU solver
// (convex_relu.hpp); derivations in docs/convex_relu.md.
//
// - Patterns: distinct_patterns() evaluates directions (sampled, or one per chamber from
//   arrangement_points(), which enumerates every chamber by recursion on the hyperplanes) and keeps each
//   pattern once, as a bitset.
// - Cone projection: Proj_K z for K = {u : G u >= 0} by Lawson-Hanson NNLS on the polar side,
//   p = z + G^T lam, lam >= 0. Any lam >= 0 bounds ||Proj_K z|| <= ||z + G^T lam||, which is what the
//   certificate needs. max_margin_direction() finds a strictly interior point of K by the same NNLS.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <unordered_set>
#include <vector>

#include "parallel.hpp"

namespace netmirror {

namespace relu_detail {

inline double dotk(const double* a, const double* b, int64_t k) {
    double s = 0.0;
    for (int64_t j = 0; j < k; ++j) s += a[j] * b[j];
    return s;
}

inline double norm2(const double* a, int64_t k) { return std::sqrt(dotk(a, a, k)); }

// Hash and equality of rows of `words` 64-bit words stored back to back in *bits, by row index: sets of
// distinct sign vectors (patterns, chamber signatures) without copying the rows.
struct BitRowsHash {
    const std::vector<uint64_t>* bits;
    int64_t words;
    size_t operator()(int64_t p) const {
        uint64_t h = 1469598103934665603ull;
        for (int64_t w = 0; w < words; ++w) h = (h ^ (*bits)[p * words + w]) * 1099511628211ull;
        return static_cast<size_t>(h ^ (h >> 29));
    }
};
struct BitRowsEqual {
    const std::vector<uint64_t>* bits;
    int64_t words;
    bool operator()(int64_t a, int64_t b) const {
        return std::memcmp(bits->data() + a * words, bits->data() + b * words,
                           static_cast<size_t>(words) * sizeof(uint64_t)) == 0;
    }
};

}  // namespace relu_detail

// Distinct activation patterns, one bitset of N bits each: bit n of pattern p is 1[x_n^T u_p >= 0].
struct PatternSet {
    int64_t n = 0, words = 0;
    std::vector<uint64_t> bits;   // pattern p at bits[p * words]
    std::vector<int64_t> first;   // index of the direction that first produced pattern p

    int64_t size() const { return static_cast<int64_t>(first.size()); }
    const uint64_t* row(int64_t p) const { return bits.data() + p * words; }
    bool active(int64_t p, int64_t i) const { return (row(p)[i >> 6] >> (i & 63)) & 1u; }
};

namespace relu_detail {
inline bool stopped(const std::atomic<bool>* stop) { return stop && stop->load(std::memory_order_relaxed); }
}  // namespace relu_detail

// Patterns of the m directions U (m, k), each kept once in order of first appearance; the all-zero pattern
// (a unit dead on every point) is left out. X (n, k) and U are row-major. A raised `stop` ends it early with
// a partial set (the caller discards it).
inline PatternSet distinct_patterns(const double* X, int64_t n, int64_t k, const double* U, int64_t m,
                                    int threads = 0, const std::atomic<bool>* stop = nullptr) {
    if (threads <= 0) threads = default_num_threads();
    const int64_t words = (n + 63) / 64;
    std::vector<uint64_t> all(static_cast<size_t>(m * words), 0);
    parallel_for(0, m, threads, [&](int64_t lo, int64_t hi) {
        for (int64_t p = lo; p < hi; ++p) {
            if ((p & 255) == 0 && relu_detail::stopped(stop)) return;
            uint64_t* b = all.data() + p * words;
            for (int64_t i = 0; i < n; ++i)
                if (relu_detail::dotk(X + i * k, U + p * k, k) >= 0.0) b[i >> 6] |= uint64_t(1) << (i & 63);
        }
    }, 256);
    std::unordered_set<int64_t, relu_detail::BitRowsHash, relu_detail::BitRowsEqual> seen(
        static_cast<size_t>(std::min<int64_t>(m, 1 << 20)) + 16, relu_detail::BitRowsHash{&all, words},
        relu_detail::BitRowsEqual{&all, words});
    PatternSet out;
    out.n = n;
    out.words = words;
    for (int64_t p = 0; p < m; ++p) {
        if ((p & 4095) == 0 && relu_detail::stopped(stop)) break;
        const uint64_t* b = all.data() + p * words;
        bool any = false;
        for (int64_t w = 0; w < words; ++w) any |= b[w] != 0;
        if (!any || !seen.insert(p).second) continue;
        out.first.push_back(p);
        out.bits.insert(out.bits.end(), b, b + words);
    }
    return out;
}

// Unit normals of the distinct hyperplanes {u : x^T u = 0} of the rows of X (n, k): rows within tol of
// parallel (either orientation) share one; zero rows give none.
inline std::vector<double> arrangement_hyperplanes(const double* X, int64_t n, int64_t k, double tol = 1e-12) {
    std::vector<double> kept, h(static_cast<size_t>(k));
    for (int64_t i = 0; i < n; ++i) {
        const double nrm = relu_detail::norm2(X + i * k, k);
        if (!(nrm > 0.0)) continue;
        for (int64_t j = 0; j < k; ++j) h[j] = X[i * k + j] / nrm;
        bool fresh = true;
        for (size_t q = 0; q < kept.size() && fresh; q += static_cast<size_t>(k))
            fresh = std::abs(relu_detail::dotk(h.data(), kept.data() + q, k)) < 1.0 - tol;
        if (fresh) kept.insert(kept.end(), h.begin(), h.end());
    }
    return kept;
}

namespace relu_detail {

// Orthonormal basis (k x (k-1), row-major) of h^T u = 0 for a unit h: columns 1.. of the Householder
// reflection that maps e_0 to -+h.
inline std::vector<double> hyperplane_basis(const double* h, int64_t k) {
    std::vector<double> v(h, h + k);
    v[0] += h[0] != 0.0 ? std::copysign(1.0, h[0]) : 1.0;
    const double vv = dotk(v.data(), v.data(), k);
    std::vector<double> B(static_cast<size_t>(k * (k - 1)));
    for (int64_t r = 0; r < k; ++r)
        for (int64_t c = 1; c < k; ++c) B[r * (k - 1) + (c - 1)] = (r == c ? 1.0 : 0.0) - 2.0 * v[r] * v[c] / vv;
    return B;
}

// When the m unit normals H (m, k) are linearly independent (m <= k: a full-rank design reduced to its row
// space, netmirror.convex_relu with few samples), every sign vector s is a chamber: u_s = H^+ s solves
// H u = s. Appends those 2^m points (one per chamber) and returns true; false (nothing appended) when the
// normals are dependent, to rounding amplified up to 1e8 (H^+ = Q R^{-T} from a QR of H^T by Gram-Schmidt
// twice; the signs of H u_s = s +- 1e8 eps are then exact).
inline bool independent_chambers(const std::vector<double>& H, int64_t m, int64_t k, std::vector<double>& out,
                                 const std::atomic<bool>* stop) {
    if (m > k || m > 62) return false;
    std::vector<double> Q(H), R(static_cast<size_t>(m * m), 0.0);  // rows of Q orthonormal, H = R^T Q
    for (int64_t j = 0; j < m; ++j) {
        double* q = Q.data() + j * k;
        for (int pass = 0; pass < 2; ++pass)
            for (int64_t i = 0; i < j; ++i) {
                const double c = dotk(Q.data() + i * k, q, k);
                R[i * m + j] += c;
                for (int64_t c2 = 0; c2 < k; ++c2) q[c2] -= c * Q[i * k + c2];
            }
        const double nrm = norm2(q, k);
        if (!(nrm > 1e-8)) return false;
        R[j * m + j] = nrm;
        for (int64_t c2 = 0; c2 < k; ++c2) q[c2] /= nrm;
    }
    std::vector<double> Wt(static_cast<size_t>(m * k), 0.0), c(static_cast<size_t>(m));  // row j: w_j = H^+ e_j
    for (int64_t j = 0; j < m; ++j) {
        for (int64_t i = 0; i < m; ++i) {  // R^T c = e_j, forward substitution
            double v = i == j ? 1.0 : 0.0;
            for (int64_t l = 0; l < i; ++l) v -= R[l * m + i] * c[l];
            c[i] = v / R[i * m + i];
        }
        for (int64_t i = 0; i < m; ++i)
            for (int64_t c2 = 0; c2 < k; ++c2) Wt[j * k + c2] += c[i] * Q[i * k + c2];
    }
    const uint64_t count = uint64_t(1) << m;
    out.reserve(out.size() + static_cast<size_t>(count * static_cast<uint64_t>(k)));
    std::vector<double> u(static_cast<size_t>(k));
    for (uint64_t mask = 0; mask < count; ++mask) {
        if ((mask & 4095) == 0 && stopped(stop)) return true;
        std::fill(u.begin(), u.end(), 0.0);
        for (int64_t j = 0; j < m; ++j) {
            const double sj = ((mask >> j) & 1u) ? 1.0 : -1.0;
            for (int64_t c2 = 0; c2 < k; ++c2) u[c2] += sj * Wt[j * k + c2];
        }
        out.insert(out.end(), u.begin(), u.end());
    }
    return true;
}

// Appends to out one interior point per chamber (each chamber once) of the central arrangement of the m unit
// normals H (m, k). A chamber of a non-empty arrangement has a facet on some hyperplane h_q; that facet is
// a chamber of the arrangement cut on h_q by the others. So each point u0 found on h_q (recursively, in
// k - 1 dimensions) is pushed off by +-eps h_q, eps half its distance to the nearest other hyperplane:
// every other sign is kept, and both chambers on the two sides of the facet are reached. A raised `stop`
// ends it early (partial output).
inline void arrangement_points_into(const std::vector<double>& H, int64_t k, double tol, std::vector<double>& out,
                                    int threads, const std::atomic<bool>* stop = nullptr) {
    const int64_t m = static_cast<int64_t>(H.size()) / k;
    if (m == 0) {
        out.push_back(1.0);
        out.insert(out.end(), static_cast<size_t>(k - 1), 0.0);
        return;
    }
    if (k == 1) {
        out.push_back(1.0);
        out.push_back(-1.0);
        return;
    }
    if (independent_chambers(H, m, k, out, stop)) return;
    std::vector<std::vector<double>> parts(static_cast<size_t>(m));
    parallel_for(0, m, threads, [&](int64_t lo, int64_t hi) {
        std::vector<double> others(static_cast<size_t>((m - 1) * (k - 1))), sub, u0(static_cast<size_t>(k));
        for (int64_t q = lo; q < hi && !stopped(stop); ++q) {
            const double* hq = H.data() + q * k;
            const std::vector<double> B = hyperplane_basis(hq, k);
            int64_t row = 0;
            for (int64_t o = 0; o < m; ++o) {
                if (o == q) continue;
                for (int64_t c = 0; c < k - 1; ++c) {
                    double s = 0.0;
                    for (int64_t r = 0; r < k; ++r) s += H[o * k + r] * B[r * (k - 1) + c];
                    others[row * (k - 1) + c] = s;
                }
                ++row;
            }
            const std::vector<double> restricted = arrangement_hyperplanes(others.data(), m - 1, k - 1, tol);
            sub.clear();
            arrangement_points_into(restricted, k - 1, tol, sub, 1, stop);
            std::vector<double>& part = parts[q];
            for (size_t p = 0; p < sub.size(); p += static_cast<size_t>(k - 1)) {
                for (int64_t r = 0; r < k; ++r) u0[r] = dotk(B.data() + r * (k - 1), sub.data() + p, k - 1);
                const double nrm = norm2(u0.data(), k);
                for (double& x : u0) x /= nrm;
                double dist = std::numeric_limits<double>::infinity();
                for (int64_t o = 0; o < m; ++o)
                    if (o != q) dist = std::min(dist, std::abs(dotk(H.data() + o * k, u0.data(), k)));
                const double eps = std::isfinite(dist) ? 0.5 * dist : 1.0;
                for (double side : {1.0, -1.0})
                    for (int64_t r = 0; r < k; ++r) part.push_back(u0[r] + side * eps * hq[r]);
            }
        }
    });
    // Chambers with several facets are found once per facet: keep each once (by its sign vector against H,
    // exact for these interior points), so that a level hands up one point per chamber and the candidates
    // stay about 2 m (chambers one dimension down) instead of multiplying by m at every level (2^m m! when
    // k >= m). Each part is already duplicate-free (its points are distinct chambers of the restricted
    // arrangement, pushed to both sides of h_q).
    const int64_t words = (m + 63) / 64;
    std::vector<uint64_t> sigs;
    std::unordered_set<int64_t, BitRowsHash, BitRowsEqual> seen(16, BitRowsHash{&sigs, words},
                                                                  BitRowsEqual{&sigs, words});
    int64_t kept = 0;
    for (auto& part : parts) {
        for (size_t p = 0; p < part.size(); p += static_cast<size_t>(k)) {
            const double* u = part.data() + p;
            sigs.resize(static_cast<size_t>((kept + 1) * words), 0);
            uint64_t* sg = sigs.data() + kept * words;
            std::fill(sg, sg + words, uint64_t(0));
            for (int64_t o = 0; o < m; ++o)
                if (dotk(H.data() + o * k, u, k) > 0.0) sg[o >> 6] |= uint64_t(1) << (o & 63);
            if (!seen.insert(kept).second) continue;
            ++kept;
            out.insert(out.end(), u, u + k);
        }
        std::vector<double>().swap(part);  // free as we go: the peak is the parts, not parts + copy
        if (stopped(stop)) return;
    }
}

}  // namespace relu_detail

// One interior point (k doubles) per chamber of the arrangement of the rows of X (n, k), each chamber once:
// feed them to distinct_patterns() for every chamber pattern exactly once.
inline std::vector<double> arrangement_points(const double* X, int64_t n, int64_t k, double tol = 1e-12,
                                              int threads = 0, const std::atomic<bool>* stop = nullptr) {
    if (threads <= 0) threads = default_num_threads();
    std::vector<double> out;
    relu_detail::arrangement_points_into(arrangement_hyperplanes(X, n, k, tol), k, tol, out, threads, stop);
    return out;
}

// Projection onto the cone K_p = {u : s_i x_i^T u >= 0}, s_i = +1 where pattern p is active, else -1.
// Lawson-Hanson NNLS for lam = argmin_{lam >= 0} ||z + G^T lam||: at most k constraints are ever active
// (their normals stay independent), so each step is a k x k solve after an O(n k) scan.
class ConeProjector {
public:
    // Constraints are used with unit normals: the same cone, but the active-set Gram is then only as
    // ill-conditioned as the angles between the normals, not also their lengths.
    ConeProjector(const double* X, int64_t n, int64_t k) : n_(n), k_(k), unit_(static_cast<size_t>(n * k), 0.0),
                                                           usable_(static_cast<size_t>(n), 0) {
        for (int64_t i = 0; i < n; ++i) {
            const double nrm = relu_detail::norm2(X + i * k, k);
            if (!(nrm > 0.0)) continue;
            usable_[i] = 1;
            for (int64_t j = 0; j < k; ++j) unit_[i * k + j] = X[i * k + j] / nrm;
        }
    }

    // p = z + G^T lam (lam >= 0, so ||p|| >= ||Proj_K z|| always; = at convergence). Returns ||p||.
    double project(const uint64_t* pattern, const double* z, double* p) const {
        const int64_t k = k_;
        std::copy(z, z + k, p);
        const double znorm = relu_detail::norm2(z, k);
        if (znorm == 0.0) return 0.0;
        // Feasibility tolerance: normalised violation at rounding level of ||z||.
        const double feas = 1e-14 * znorm;
        std::vector<int64_t> act;      // active constraint rows
        std::vector<double> lam, mu, Q, R;
        std::vector<char> banned(static_cast<size_t>(n_), 0);  // numerically dependent on the active set
        const int64_t max_outer = 8 * k + 32;
        for (int64_t outer = 0; outer < max_outer; ++outer) {
            int64_t worst = -1;
            double worst_v = feas;
            for (int64_t i = 0; i < n_; ++i) {
                if (!usable_[i] || banned[i]) continue;
                const double v = -sign(pattern, i) * relu_detail::dotk(unit_.data() + i * k, p, k);
                if (v > worst_v && std::find(act.begin(), act.end(), i) == act.end()) worst_v = v, worst = i;
            }
            if (worst < 0) break;
            act.push_back(worst);
            lam.push_back(0.0);
            for (int64_t inner = 0; inner < 4 * k + 8; ++inner) {
                if (!least_squares(pattern, act, z, mu, Q, R)) {  // dependent: drop the newcomer
                    banned[act.back()] = 1;
                    act.pop_back();
                    lam.pop_back();
                    break;
                }
                bool positive = true;
                for (double x : mu) positive &= x > 0.0;
                if (positive) {
                    lam = mu;
                    break;
                }
                // Step back to the first multiplier that hits zero; it leaves the active set.
                double alpha = 1.0;
                size_t leaving = act.size();
                for (size_t a = 0; a < act.size(); ++a)
                    if (mu[a] <= 0.0 && lam[a] / (lam[a] - mu[a]) < alpha) alpha = lam[a] / (lam[a] - mu[a]), leaving = a;
                if (leaving == act.size() - 1 && alpha == 0.0) {  // the newcomer cannot enter: rounding
                    banned[act.back()] = 1;
                    act.pop_back();
                    lam.pop_back();
                    break;
                }
                size_t kept = 0;
                for (size_t a = 0; a < act.size(); ++a) {
                    const double l = lam[a] + alpha * (mu[a] - lam[a]);
                    if (a != leaving && l > 0.0) {
                        act[kept] = act[a];
                        lam[kept++] = l;
                    }
                }
                act.resize(kept);
                lam.resize(kept);
                if (act.empty()) break;
            }
            assemble(pattern, act, lam, z, p);
        }
        assemble(pattern, act, lam, z, p);
        return relu_detail::norm2(p, k);
    }

    int64_t rows() const { return n_; }
    int64_t dims() const { return k_; }

private:
    int64_t n_, k_;
    std::vector<double> unit_;   // x_i / ||x_i|| (zero rows: no constraint)
    std::vector<char> usable_;

    static double sign(const uint64_t* pattern, int64_t i) { return ((pattern[i >> 6] >> (i & 63)) & 1u) ? 1.0 : -1.0; }

    void assemble(const uint64_t* pattern, const std::vector<int64_t>& act, const std::vector<double>& lam,
                  const double* z, double* p) const {
        std::copy(z, z + k_, p);
        for (size_t a = 0; a < act.size(); ++a) {
            const double c = std::max(lam[a], 0.0) * sign(pattern, act[a]);
            for (int64_t j = 0; j < k_; ++j) p[j] += c * unit_[act[a] * k_ + j];
        }
    }

    // mu = argmin ||z + G_A^T mu|| (unconstrained) from a QR of the active normals (Gram-Schmidt twice):
    // rounding grows like eps / sin(angle) between nearly parallel normals, not eps / sin^2 as with the
    // normal equations. False if a normal is numerically in the span of the others.
    bool least_squares(const uint64_t* pattern, const std::vector<int64_t>& act, const double* z,
                       std::vector<double>& mu, std::vector<double>& Q, std::vector<double>& R) const {
        const int64_t a = static_cast<int64_t>(act.size()), k = k_;
        Q.assign(static_cast<size_t>(a * k), 0.0);
        R.assign(static_cast<size_t>(a * a), 0.0);
        for (int64_t c = 0; c < a; ++c) {
            double* q = Q.data() + c * k;
            const double sc = sign(pattern, act[c]);
            for (int64_t j = 0; j < k; ++j) q[j] = sc * unit_[act[c] * k + j];
            for (int pass = 0; pass < 2; ++pass)
                for (int64_t b = 0; b < c; ++b) {
                    const double h = relu_detail::dotk(Q.data() + b * k, q, k);
                    R[b * a + c] += h;
                    for (int64_t j = 0; j < k; ++j) q[j] -= h * Q[b * k + j];
                }
            const double nrm = relu_detail::norm2(q, k);
            if (!(nrm > 1e-12)) return false;  // unit normals: an absolute threshold
            R[c * a + c] = nrm;
            for (int64_t j = 0; j < k; ++j) q[j] /= nrm;
        }
        // R mu = -Q^T z
        mu.assign(static_cast<size_t>(a), 0.0);
        for (int64_t r = a - 1; r >= 0; --r) {
            double v = -relu_detail::dotk(Q.data() + r * k, z, k);
            for (int64_t c = r + 1; c < a; ++c) v -= R[r * a + c] * mu[c];
            mu[r] = v / R[r * a + r];
        }
        return true;
    }
};

// A strictly interior direction of the cone K_p of `pattern` (rows of X (n, k), signs from the pattern) with
// the largest margin: u = argmin ||u|| s.t. s_i x_i^T u / ||x_i|| >= 1, by least-distance programming (Lawson &
// Hanson, ch. 23) through the NNLS of a ConeProjector on the rows (x_i / ||x_i||, s_i). Writes the unit
// direction to u (k) and returns its margin min_i s_i x_i^T u / ||x_i|| (> 0), or 0 when the cone has no
// interior (then u is left zero). Zero rows impose no constraint.
inline double max_margin_direction(const double* X, int64_t n, int64_t k, const uint64_t* pattern, double* u) {
    std::fill(u, u + k, 0.0);
    std::vector<double> Y(static_cast<size_t>(n * (k + 1)), 0.0);
    bool any = false;
    for (int64_t i = 0; i < n; ++i) {
        const double nrm = relu_detail::norm2(X + i * k, k);
        if (!(nrm > 0.0)) continue;
        any = true;
        for (int64_t j = 0; j < k; ++j) Y[i * (k + 1) + j] = X[i * k + j] / nrm;
        Y[i * (k + 1) + k] = ((pattern[i >> 6] >> (i & 63)) & 1u) ? 1.0 : -1.0;
    }
    if (!any) {  // no constraint at all: any direction is interior
        u[0] = 1.0;
        return 1.0;
    }
    ConeProjector ldp(Y.data(), n, k + 1);
    std::vector<double> z(static_cast<size_t>(k + 1), 0.0), r(static_cast<size_t>(k + 1));
    z[k] = -1.0;
    // r = E lam - f with E's columns (s_i x_i / ||x_i||, 1) / sqrt(2); r = 0 (to rounding) iff infeasible.
    const double rn = ldp.project(pattern, z.data(), r.data());
    if (!(rn > 1e-12) || !(r[k] < 0.0)) return 0.0;
    for (int64_t j = 0; j < k; ++j) u[j] = -r[j] / r[k];
    const double un = relu_detail::norm2(u, k);
    if (!(un > 0.0) || !std::isfinite(un)) {
        std::fill(u, u + k, 0.0);
        return 0.0;
    }
    for (int64_t j = 0; j < k; ++j) u[j] /= un;
    double margin = std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i) {
        const double nrm = relu_detail::norm2(X + i * k, k);
        if (!(nrm > 0.0)) continue;
        const double s = ((pattern[i >> 6] >> (i & 63)) & 1u) ? 1.0 : -1.0;
        margin = std::min(margin, s * relu_detail::dotk(X + i * k, u, k) / nrm);
    }
    if (!(margin > 0.0)) {
        std::fill(u, u + k, 0.0);
        return 0.0;
    }
    return margin;
}

}  // namespace netmirror

// The exact dual oracle of abs nets on 2-D inputs under weight decay (docs/libraries.md §6.2): the sup over
// every unit direction u and every 1-D abs type t of |Σ_i θ_i f_t(uᵀx_i)|.
//
// For one type the features are nests of |·| over linear forms of the projections; they bend only where uᵀx_i
// crosses uᵀP for a breakpoint point P of the type (its data slots and abs_breakpoint_forms). Between two
// consecutive such directions every |·| keeps its sign, so the dual function is uᵀv_C, v_C its gradient, and
// its magnitude on the arc peaks at an end or at ±v_C/‖v_C‖ when that direction lies inside. The scan carries
// every quantity with its gradient in u (forward mode; exact, the maps are piecewise linear).
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "parallel.hpp"
#include "reflection_planes.hpp"

namespace netmirror {

struct PlaneDualSup {
    double value = 0.0;                 // the sup, |F|
    std::array<double, 2> u{1.0, 0.0};  // a maximising unit direction
    int64_t type = 0;                   // its 1-D abs type (raw index of the 1-D library; depth 2: the anchor)
    std::array<double, 3> levels{};     // the type's levels a1, c2, c3 at u (depth − 1 of them)
};

namespace detail {

struct Lin2 {  // a value and its gradient in u
    double v = 0.0, gx = 0.0, gy = 0.0;
};
inline Lin2 lin_abs(Lin2 a) {
    const double s = a.v > 0.0 ? 1.0 : a.v < 0.0 ? -1.0 : 0.0;
    return {std::fabs(a.v), s * a.gx, s * a.gy};
}
inline Lin2 lin_sub(Lin2 a, Lin2 b) { return {a.v - b.v, a.gx - b.gx, a.gy - b.gy}; }
inline Lin2 lin_half_sum(Lin2 a, Lin2 b) { return {0.5 * (a.v + b.v), 0.5 * (a.gx + b.gx), 0.5 * (a.gy + b.gy)}; }

// One 1-D abs type decoded as Family::decode_nested_raw lays it out (data digits, partner digits, pattern).
struct AbsType {
    int H = 1;
    std::array<int32_t, 3> j{};
    std::array<int, 3> partner{-1, -1, -1};
    int pattern = -1, mode = 0;
};

inline AbsType decode_abs_type(int64_t r, int64_t n, int depth) {
    AbsType t;
    t.H = depth - 1;
    for (int k = 0; k < t.H; ++k, r /= n) t.j[static_cast<size_t>(k)] = static_cast<int32_t>(r % n);
    t.mode = static_cast<int>(r);
    int partner_modes = 1;
    for (int k = 2; k <= t.H; ++k) partner_modes *= k;
    if (t.mode >= partner_modes)
        t.pattern = t.mode - partner_modes;
    else
        decode_partner_digits(static_cast<uint64_t>(t.mode), t.H, t.partner.data());
    return t;
}

// Levels of type t at direction (ux, uy) with their gradients; F = Σ θ_i f_i and its gradient.
inline Lin2 abs_type_dual(const double* x, int64_t n, const AbsType& t, double ux, double uy, const double* theta,
                          std::array<Lin2, 3>& level) {
    auto point = [&](int64_t i) { return Lin2{ux * x[2 * i] + uy * x[2 * i + 1], x[2 * i], x[2 * i + 1]}; };
    auto slot = [&](int k) { return point(t.j[static_cast<size_t>(k)]); };
    if (t.pattern >= 0) {
        const auto c = abs_three_point_coefficients(t.pattern);
        Lin2 a{};
        for (int k = 0; k < 3; ++k) {
            const Lin2 s = slot(k);
            a.v += c[k] * s.v, a.gx += c[k] * s.gx, a.gy += c[k] * s.gy;
        }
        level[0] = a;
    } else if (t.partner[0] >= 0) {
        level[0] = lin_half_sum(slot(0), slot(t.partner[0]));
    } else {
        level[0] = slot(0);
    }
    auto g = [&](Lin2 v, int upto) {
        v = lin_abs(lin_sub(v, level[0]));
        for (int h = 1; h < upto; ++h) v = lin_abs(lin_sub(v, level[static_cast<size_t>(h)]));
        return v;
    };
    for (int h = 1; h < t.H; ++h) {
        const Lin2 own = g(slot(h), h);
        level[static_cast<size_t>(h)] =
            t.partner[static_cast<size_t>(h)] >= 0 ? lin_half_sum(own, g(slot(t.partner[static_cast<size_t>(h)]), h)) : own;
    }
    Lin2 F{};
    for (int64_t i = 0; i < n; ++i) {
        const Lin2 f = g(point(i), t.H);
        F.v += theta[i] * f.v, F.gx += theta[i] * f.gx, F.gy += theta[i] * f.gy;
    }
    return F;
}

}  // namespace detail

// x: n points (row-major, 2 columns); theta: n dual values; depth 2..4.
inline PlaneDualSup plane_dual_sup_2d(const double* x, int64_t n, const double* theta, int depth,
                                      int threads = default_num_threads()) {
    if (n < 1) throw std::invalid_argument("the oracle needs at least one data point");
    const auto& forms = detail::abs_breakpoint_forms_cached(depth);  // throws outside 2..4
    const int H = depth - 1;
    const int64_t per_mode = static_cast<int64_t>(detail::ipow(static_cast<uint64_t>(n), H));
    const int64_t types = per_mode * static_cast<int64_t>(forms.size());
    constexpr double pi = 3.14159265358979323846;
    std::vector<PlaneDualSup> best(static_cast<size_t>(std::max(1, threads)));
    std::atomic<int> next_slot{0};
    parallel_for(0, types, threads, [&](int64_t lo, int64_t hi) {
        PlaneDualSup local;
        std::vector<double> ang;
        std::array<detail::Lin2, 3> level{};
        std::vector<std::array<double, 2>> pts;
        auto consider = [&](double phi, int64_t r, const detail::AbsType& t) {
            const double ux = std::cos(phi), uy = std::sin(phi);
            const double v = std::fabs(detail::abs_type_dual(x, n, t, ux, uy, theta, level).v);
            if (v > local.value) {
                local.value = v, local.u = {ux, uy}, local.type = r;
                for (int h = 0; h < 3; ++h) local.levels[static_cast<size_t>(h)] = h < H ? level[static_cast<size_t>(h)].v : 0.0;
            }
        };
        for (int64_t r = lo; r < hi; ++r) {
            const detail::AbsType t = detail::decode_abs_type(r, n, depth);
            const auto& mforms = forms[static_cast<size_t>(t.mode)];
            pts.clear();
            for (const auto& f : mforms) {  // the breakpoint points, then the data slots
                std::array<double, 2> p{0.0, 0.0};
                for (int k = 0; k < H; ++k)
                    for (int c = 0; c < 2; ++c) p[static_cast<size_t>(c)] += f[static_cast<size_t>(k)] * x[2 * t.j[static_cast<size_t>(k)] + c];
                pts.push_back(p);
            }
            for (int k = 0; k < H; ++k) pts.push_back({x[2 * t.j[static_cast<size_t>(k)]], x[2 * t.j[static_cast<size_t>(k)] + 1]});
            ang.clear();
            for (const auto& p : pts)
                for (int64_t i = 0; i < n; ++i) {
                    const double vx = x[2 * i] - p[0], vy = x[2 * i + 1] - p[1];
                    double a = 0.0;
                    if (vx != 0.0 || vy != 0.0) {  // u ⊥ (x_i − P), folded into [0, π)
                        a = std::atan2(vy, vx) + 0.5 * pi;
                        if (a < 0.0) a += pi;
                        if (a >= pi) a -= pi;
                    }
                    ang.push_back(a);
                }
            std::sort(ang.begin(), ang.end());
            const size_t K = ang.size();
            for (size_t a = 0; a < K; ++a) {
                const double lo_a = ang[a], hi_a = a + 1 < K ? ang[a + 1] : ang[0] + pi;
                consider(lo_a, r, t);
                const double mid = 0.5 * (lo_a + hi_a);
                const detail::Lin2 F = detail::abs_type_dual(x, n, t, std::cos(mid), std::sin(mid), theta, level);
                if (F.gx == 0.0 && F.gy == 0.0) continue;
                double psi = std::atan2(F.gy, F.gx);  // ±v_C/‖v_C‖ folded into [lo, lo + π)
                if (psi < 0.0) psi += pi;
                if (psi >= pi) psi -= pi;
                if (psi < lo_a) psi += pi;
                if (psi <= hi_a) consider(psi, r, t);
            }
        }
        best[static_cast<size_t>(next_slot.fetch_add(1))] = local;
    });
    PlaneDualSup out;
    for (const auto& b : best)
        if (b.value > out.value || (b.value == out.value && b.value > 0.0 && b.type < out.type)) out = b;
    if (out.value == 0.0) {  // θ = 0 on every feature: type 0 at u = (1, 0), with its levels
        std::array<detail::Lin2, 3> level{};
        detail::abs_type_dual(x, n, detail::decode_abs_type(0, n, depth), 1.0, 0.0, theta, level);
        for (int h = 0; h < H; ++h) out.levels[static_cast<size_t>(h)] = level[static_cast<size_t>(h)].v;
    }
    return out;
}

}  // namespace netmirror

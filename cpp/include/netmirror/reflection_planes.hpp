// Reflection-plane libraries of deep-narrow absolute-value nets on inputs in d dimensions
// (docs/libraries.md §6 derives them).
//
// A first-layer unit |uᵀx − a| only sees the projection uᵀx, so for a fixed unit direction u the net is a
// 1-D abs net on the projected data and its exact library is the 1-D abs library on those projections
// (libraries.hpp). The directions are the unit normals of the hyperplanes through d affinely independent
// training points (generalized cross product of x_{i2} − x_{i1}, …, x_{id} − x_{i1}): the rays of the
// arrangement on which the dual constraint is piecewise linear. With an ℓ1 penalty on the first layer the
// vertices of that arrangement's cones on the ℓ1 ball (PlaneNorm::l1) make depth 2 exact; under ℓ2 weight decay
// the direction set is an inner approximation, so the library optimum is an upper bound on the net's.
//
// Raw index r = p · M + r1: plane p (raw plane order: reference.plane_tuples), r1 a raw index of the 1-D abs
// family of depth L on the projections uₚᵀ(x_i − x_{i1}) (M = its size; M = 1 at depth 2, where the feature
// is the distance |uₚᵀ(x − x_{i1})|). Then extra directions, one feature each (extra_lines()): for d = 2 at
// depths 3 and 4 the lines through a data point and a breakpoint point of a 1-D type (fold lines); for d = 3 at
// depth 3 the directions orthogonal to two differences from the fold type's star centres (fold planes).
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <atomic>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dedup.hpp"
#include "libraries.hpp"
#include "matrix.hpp"
#include "parallel.hpp"

namespace netmirror {

// Unit-scaled volume below which a d-tuple counts as affinely dependent (its plane is not determined).
inline constexpr double kPlaneDegenerateVolume = 1e-12;

namespace detail {

// Determinant of the k x k row-major matrix a (destroyed), Gaussian elimination with partial pivoting.
inline double small_det(double* a, int k) {
    double det = 1.0;
    for (int c = 0; c < k; ++c) {
        int piv = c;
        for (int r = c + 1; r < k; ++r)
            if (std::fabs(a[r * k + c]) > std::fabs(a[piv * k + c])) piv = r;
        if (a[piv * k + c] == 0.0) return 0.0;
        if (piv != c) {
            for (int j = 0; j < k; ++j) std::swap(a[c * k + j], a[piv * k + j]);
            det = -det;
        }
        det *= a[c * k + c];
        for (int r = c + 1; r < k; ++r) {
            const double f = a[r * k + c] / a[c * k + c];
            for (int j = c; j < k; ++j) a[r * k + j] -= f * a[c * k + j];
        }
    }
    return det;
}


// A point of the 1-D abs library written over the data slots of its type: Σ_k coef[k] x[j_k] (slot k is the
// type's k-th data digit j_k). The coefficients are dyadic rationals, exact in double, so sets of forms compare
// exactly.
using SlotForm = std::array<double, 4>;

// Family::three_point_a1 of abs (k = 1) as coefficients over the slots (q = slot 0, r = slot 1, p = slot 2):
// a1 = (w_p x_p + w_q x_q − 2 w_r x_r) / (w_p + w_q − 2 w_r), w = ±1 by side.
inline std::array<double, 3> abs_three_point_coefficients(int pattern) {
    const auto& sides = kThreePointSides[pattern];
    const double wp = sides[0] ? -1.0 : 1.0, wq = sides[1] ? -1.0 : 1.0, wr = sides[2] ? -1.0 : 1.0,
                 den = wp + wq - 2.0 * wr;
    return {wq / den, -2.0 * wr / den, wp / den};
}

// Breakpoint points of the 1-D abs types of depth 3 and 4 (docs/libraries.md §6), one sorted list per mode in
// the 1-D raw mode order (partner digits, layer 0 fastest, then at depth 4 the six three-point patterns). For a
// direction u the type's feature at x is a nest of |·| over linear forms of the projections; it bends where
// uᵀx equals uᵀP for one of these points P: the level a₁, or a₁ ± (c₂ ± (c₃ …)) with every sign choice of every
// level's own |·| (a superset of the points a direction can realise, so no kink is missed). Points equal to
// one data slot are dropped (a line through two data points is a plane of the library and carries every type).
inline std::vector<std::vector<SlotForm>> abs_breakpoint_forms(int H) {
    using Set = std::set<SlotForm>;
    auto unit = [](int k) { SlotForm v{}; v[static_cast<size_t>(k)] = 1.0; return v; };
    auto comb = [](const SlotForm& a, const SlotForm& b, double sb) {
        SlotForm v{};
        for (size_t k = 0; k < v.size(); ++k) v[k] = a[k] + sb * b[k];
        return v;
    };
    auto scaled = [](const SlotForm& a, double s) {
        SlotForm v{};
        for (size_t k = 0; k < v.size(); ++k) v[k] = s * a[k];
        return v;
    };
    std::vector<std::pair<std::array<int, 4>, int>> modes;  // (partner of each layer or -1, pattern or -1)
    int combos = 1;
    for (int l = 0; l + 1 < H; ++l) combos *= H - l;
    for (int c = 0; c < combos; ++c) {
        std::array<int, 4> partner{-1, -1, -1, -1};
        decode_partner_digits(static_cast<uint64_t>(c), H, partner.data());
        modes.emplace_back(partner, -1);
    }
    if (H == 3)
        for (int p = 0; p < 6; ++p) modes.emplace_back(std::array<int, 4>{-1, -1, -1, -1}, p);
    std::vector<std::vector<SlotForm>> out;
    for (const auto& [partner, pattern] : modes) {
        SlotForm a1{};
        if (pattern >= 0) {
            const auto c = abs_three_point_coefficients(pattern);
            std::copy(c.begin(), c.end(), a1.begin());
        } else if (partner[0] >= 0) {
            a1 = scaled(comb(unit(0), unit(partner[0]), 1.0), 0.5);
        } else {
            a1 = unit(0);
        }
        std::vector<Set> level(static_cast<size_t>(H));
        auto g = [&](int h, const SlotForm& t) {  // the forms g_h(t) can take
            Set cur{comb(t, a1, -1.0), scaled(comb(t, a1, -1.0), -1.0)};
            for (int l = 1; l < h; ++l) {
                Set next;
                for (const auto& v : cur)
                    for (const auto& c : level[static_cast<size_t>(l)])
                        for (double sg : {1.0, -1.0}) next.insert(scaled(comb(v, c, -1.0), sg));
                cur.swap(next);
            }
            return cur;
        };
        for (int h = 1; h < H; ++h) {
            const Set own = g(h, unit(h));
            if (pattern < 0 && partner[static_cast<size_t>(h)] >= 0) {
                const Set other = g(h, unit(partner[static_cast<size_t>(h)]));
                for (const auto& a : own)
                    for (const auto& b : other) level[static_cast<size_t>(h)].insert(scaled(comb(a, b, 1.0), 0.5));
            } else {
                level[static_cast<size_t>(h)] = own;
            }
        }
        Set points{a1};
        for (int h = 1; h < H; ++h) {  // g_h(s) = c_h, unfolded down to s = a1 ± v
            Set targets = level[static_cast<size_t>(h)];
            for (int l = h - 1; l >= 1; --l) {
                Set next;
                for (const auto& c : level[static_cast<size_t>(l)])
                    for (const auto& v : targets)
                        for (double sg : {1.0, -1.0}) next.insert(comb(c, v, sg));
                targets.swap(next);
            }
            for (const auto& v : targets)
                for (double sg : {1.0, -1.0}) points.insert(comb(a1, v, sg));
        }
        for (int k = 0; k < H; ++k) points.erase(unit(k));
        out.emplace_back(points.begin(), points.end());
    }
    return out;
}

// abs_breakpoint_forms for depth 2, 3 or 4 (depth 2: one mode, no point past the anchor), computed once.
inline const std::vector<std::vector<SlotForm>>& abs_breakpoint_forms_cached(int depth) {
    static const std::vector<std::vector<SlotForm>> d2 = abs_breakpoint_forms(1), d3 = abs_breakpoint_forms(2),
                                                    d4 = abs_breakpoint_forms(3);
    if (depth < 2 || depth > 4) throw std::invalid_argument("breakpoint forms exist for depths 2 to 4");
    return depth == 2 ? d2 : depth == 3 ? d3 : d4;
}

}  // namespace detail

// Normal of the hyperplane through the q points pts[0..q) (rows of d coordinates) within the coordinates
// coords[0..q), written to normal[0..q) with unit Euclidean norm. The difference vectors are scaled
// to unit length first, so the generalized cross product has norm = the volume of unit vectors (a product of
// sines, in [0, 1]) whatever the data's magnitude; returns false (normal zeroed) when it is below
// kPlaneDegenerateVolume: repeated or affinely dependent points.
inline bool plane_normal(const double* const* pts, const int32_t* coords, int q, double* normal) {
    std::fill(normal, normal + q, 0.0);
    const int k = q - 1;
    std::vector<double> v(static_cast<size_t>(k * q)), minor(static_cast<size_t>(k * k));
    const double* x0 = pts[0];
    for (int r = 0; r < k; ++r) {
        const double* xr = pts[r + 1];
        double scale = 0.0;
        for (int c = 0; c < q; ++c) scale = std::max(scale, std::fabs(xr[coords[c]] - x0[coords[c]]));
        if (scale == 0.0) return false;  // a repeated point
        double norm2 = 0.0;
        for (int c = 0; c < q; ++c) {
            v[r * q + c] = (xr[coords[c]] - x0[coords[c]]) / scale;
            norm2 += v[r * q + c] * v[r * q + c];
        }
        const double inv = 1.0 / std::sqrt(norm2);
        for (int c = 0; c < q; ++c) v[r * q + c] *= inv;
    }
    if (q == 1) {
        normal[0] = 1.0;
        return true;
    }
    // Cofactor expansion along a formal first row (e_1, …, e_q): n_c = (−1)^c det(V without column c).
    double norm2 = 0.0;
    for (int c = 0; c < q; ++c) {
        for (int r = 0; r < k; ++r)
            for (int j = 0, jj = 0; j < q; ++j)
                if (j != c) minor[r * k + jj++] = v[r * q + j];
        const double det = detail::small_det(minor.data(), k);
        normal[c] = (c % 2 == 0) ? det : -det;
        norm2 += normal[c] * normal[c];
    }
    const double vol = std::sqrt(norm2);
    if (!(vol > kPlaneDegenerateVolume)) {
        std::fill(normal, normal + q, 0.0);
        return false;
    }
    for (int c = 0; c < q; ++c) normal[c] /= vol;
    return true;
}

// Which weight penalty the library is exact or inner for (docs/libraries.md §6): l2, the usual weight decay
// (unit Euclidean normals of planes through d points), or l1 on the first layer (normals scaled to unit ℓ1
// norm, and planes through q ≤ d points in every q-coordinate subspace: the vertices of the ℓ1 ball's cones).
enum class PlaneNorm : int { l2 = 0, l1 = 1 };

class PlaneFamily {
public:
    // x: n training points, row-major (n, dim); copied. depth: weight layers L of the abs net (2..5).
    PlaneFamily(const double* x, int64_t n, int dim, int depth, PlaneNorm norm = PlaneNorm::l2)
        : n_(n), dim_(dim), depth_(depth), norm_(norm) {
        if (n < 1) throw std::invalid_argument("a library needs at least one data point");
        if (dim < 1 || dim > 16) throw std::invalid_argument("plane libraries take 1 to 16 input dimensions");
        if (depth < 2 || depth > 5) throw std::invalid_argument("abs plane libraries have depth 2..5");
        x_.assign(x, x + n * dim);
        planes_ = static_cast<int64_t>(count_planes(static_cast<uint64_t>(n), dim, norm));
        spec_.activation = Activation::abs;
        spec_.architecture = Architecture::deep_narrow;
        spec_.depth = depth;
        spec_.slope = -1.0;
        modes_ = depth == 2 ? 1 : static_cast<int64_t>(Family::compute_size(spec_, n));
        // Depth ≥ 3: the dual's arrangement for one 1-D feature type also has the hyperplanes orthogonal to
        // x_i − P for the type's breakpoint points P (docs §6): d = 2, the lines through a data point and P
        // (depths 3 and 4); d = 3, depth 3, the directions orthogonal to two such differences from the three
        // stars (and, for l1, one in a coordinate plane), each with its own feature type.
        extra_ = static_cast<int64_t>(count_fold_directions(static_cast<uint64_t>(n), dim, depth, norm));
        size_ = static_cast<int64_t>(detail::checked_add(
            detail::checked_mul(static_cast<uint64_t>(planes_), static_cast<uint64_t>(modes_)), static_cast<uint64_t>(extra_)));
        build_planes();
    }

    int64_t n() const { return n_; }
    int dim() const { return dim_; }
    int depth() const { return depth_; }
    int64_t size() const { return size_; }
    int64_t planes() const { return planes_; }
    PlaneNorm norm() const { return norm_; }

    // Planes of the library: C(n, d) for l2; Σ_{q=1..d} C(d, q) C(n, q) for l1 (q-point planes in every
    // q-coordinate subspace).
    static uint64_t count_planes(uint64_t n, int d, PlaneNorm norm) {
        if (norm == PlaneNorm::l2) return binomial(n, static_cast<uint64_t>(d));
        uint64_t total = 0;
        for (int q = 1; q <= d; ++q)
            total = detail::checked_add(total, detail::checked_mul(binomial(static_cast<uint64_t>(d), static_cast<uint64_t>(q)),
                                                                   binomial(n, static_cast<uint64_t>(q))));
        return total;
    }
    // Extra directions (after the planes' features, one feature each): d = 2, depths 3 and 4, n lines per
    // breakpoint point of every 1-D type: 2n³ (depth 3), 102n⁴ (depth 4); d = 3, depth 3, for each of the 2n²
    // fold types, 3n² + n(n - 1)/2 pairs of star differences (l2 and l1) and, for l1, 3 · n differences from the
    // fold point in each coordinate plane; none otherwise.
    static uint64_t count_fold_directions(uint64_t n, int d, int depth, PlaneNorm norm) {
        if (d == 2 && (depth == 3 || depth == 4)) {
            uint64_t points = 0;
            for (const auto& forms : detail::abs_breakpoint_forms_cached(depth)) points += forms.size();
            return detail::checked_mul(detail::checked_mul(points, detail::ipow(n, depth - 1)), n);
        }
        if (depth != 3 || d != 3) return 0;
        const uint64_t types = detail::checked_mul(2, detail::checked_mul(n, n));
        const uint64_t pairs = detail::checked_add(detail::checked_mul(3, detail::checked_mul(n, n)), n * (n - 1) / 2);
        uint64_t total = detail::checked_mul(types, pairs);
        if (norm == PlaneNorm::l1) total = detail::checked_add(total, detail::checked_mul(types, detail::checked_mul(3, n)));
        return total;
    }
    int64_t modes() const { return modes_; }  // raw features per plane
    // Extra directions, each with one feature, after the planes' features: raw r = planes · modes + e.
    // d = 2 (depths 3, 4): e = i + n k, the line through x[i] and the breakpoint point P = Σ coef[s] x[j_s] of
    // block k: blocks run over the 1-D types r1 in raw order, |B_m| per type of mode m (the forms of
    // abs_breakpoint_forms); fold_line() decodes k. At depth 3 every type has one point, so k = r1 and
    // P = 2 x[j1] − x[j2] (mode 0: the reflection) or (x[j1] + x[j2]) / 2 (mode 1: the midpoint).
    // d = 3, depth 3: fold type r1 = j1 + n j2 + n² fold (the 1-D raw index), fold point f as P above; star
    // centres c_0 = x[j1], c_1 = x[j2], c_2 = f. e = r1 Q + q (Q = 3n² + n(n − 1)/2), u orthogonal
    // to x[i] − c_s and x[k] − c_t for (s, t) = (0, 1) (q = i + n k), (0, 2) (q = n² + i + n k), (1, 2)
    // (q = 2n² + i + n k), (2, 2) with i < k (q = 3n² + the pair's lexicographic rank); then, for l1,
    // e = 2n² Q + (3 r1 + J) n + i: u in coordinate plane J ∈ {01, 02, 12}, orthogonal there to x[i] − f.
    // Projections are taken from x[j1] (points(p)[0]).
    int64_t extra_lines() const { return extra_; }
    int64_t fold_type(int64_t extra) const { return extra_type_[static_cast<size_t>(extra)]; }
    // d = 2 fold line e: its data point i, 1-D type r1, and the breakpoint point's form (coefficients over the
    // type's data slots, slots' data indices; H = depth − 1 slots).
    struct FoldLine {
        int64_t i = 0, type = 0;
        detail::SlotForm coef{};
        std::array<int32_t, 4> slots{-1, -1, -1, -1};
    };
    FoldLine fold_line(int64_t extra) const {
        if (dim_ != 2 || extra < 0 || extra >= extra_) throw std::out_of_range("not a fold line of this library");
        FoldLine f;
        f.i = extra % n_;
        int64_t k = extra / n_;
        const auto& forms = detail::abs_breakpoint_forms_cached(depth_);
        const int H = depth_ - 1;
        const int64_t types = static_cast<int64_t>(detail::ipow(static_cast<uint64_t>(n_), H));
        for (size_t m = 0; m < forms.size(); ++m) {
            const int64_t per = static_cast<int64_t>(forms[m].size()), block = types * per;
            if (k >= block) {
                k -= block;
                continue;
            }
            const int64_t digits = k / per;
            f.type = digits + static_cast<int64_t>(m) * types;
            f.coef = forms[m][static_cast<size_t>(k % per)];
            int64_t rem = digits;
            for (int s = 0; s < H; ++s, rem /= n_) f.slots[static_cast<size_t>(s)] = static_cast<int32_t>(rem % n_);
            return f;
        }
        throw std::logic_error("fold line index past the breakpoint forms");
    }
    // The fold line's point P = Σ_s coef[s] x[slots[s]], accumulated slot by slot (the reference's order).
    void fold_point(const FoldLine& f, double* out) const {
        for (int c = 0; c < dim_; ++c) {
            double acc = 0.0;
            for (int s = 0; s < depth_ - 1; ++s)
                if (f.coef[static_cast<size_t>(s)] != 0.0)
                    acc += f.coef[static_cast<size_t>(s)] * x_[static_cast<size_t>(f.slots[static_cast<size_t>(s)] * dim_ + c)];
            out[c] = acc;
        }
    }
    const std::vector<double>& x() const { return x_; }
    // Plane (index into the stored planes, extra lines after the planes) and 1-D raw index of a raw feature.
    int64_t plane_of(int64_t raw) const {
        const int64_t main = planes_ * modes_;
        return raw < main ? raw / modes_ : planes_ + (raw - main);
    }
    int64_t inner_of(int64_t raw) const {
        const int64_t main = planes_ * modes_;
        return raw < main ? raw % modes_ : extra_type_[static_cast<size_t>(raw - main)];
    }
    bool degenerate(int64_t plane) const { return !valid_[static_cast<size_t>(plane)]; }
    const double* normal(int64_t plane) const { return normals_.data() + plane * dim_; }
    // Data indices the plane passes through (padded with -1) and its coordinate subspace (l1; padded with -1).
    const int32_t* points(int64_t plane) const { return index_.data() + plane * dim_; }
    const int32_t* coords(int64_t plane) const { return coords_.data() + plane * dim_; }

    // C(n, k), exact; throws past int64.
    static uint64_t binomial(uint64_t n, uint64_t k) {
        if (k > n) return 0;
        uint64_t b = 1;
        for (uint64_t i = 1; i <= k; ++i) {  // b = C(n - k + i, i), exact at every step
            const uint64_t g = std::gcd(b, i);
            b = detail::checked_mul(b / g, (n - k + i) / (i / g));
        }
        return b;
    }

    // Raw indices of the features whose plane is determined (affinely independent points), increasing.
    std::vector<int64_t> nondegenerate() const {
        std::vector<int64_t> out;
        for (int64_t r = 0; r < size_; ++r)
            if (valid_[static_cast<size_t>(plane_of(r))]) out.push_back(r);
        return out;
    }

    // Signed projections s_i = uᵀ(t_i − x_{i1}) of m points t (row-major, dim) on plane p's normal.
    void project(int64_t plane, const double* t, int64_t m, double* s) const {
        const double* u = normal(plane);
        const double* x0 = x_.data() + static_cast<int64_t>(points(plane)[0]) * dim_;
        for (int64_t i = 0; i < m; ++i) {
            const double* ti = t + i * dim_;
            double acc = 0.0;
            for (int c = 0; c < dim_; ++c) acc += u[c] * (ti[c] - x0[c]);
            s[i] = acc;
        }
    }

    // The 1-D abs family on the projections of the training points on plane p's normal.
    Family projected_family(int64_t plane) const {
        std::vector<double> s(static_cast<size_t>(n_));
        project(plane, x_.data(), n_, s.data());
        return Family(s.data(), n_, spec_);
    }

    // out[0..m) = feature `raw` at the m points t (row-major, dim). Degenerate planes give zeros (a constant
    // column, dropped by deduplication). scratch is reused between calls by one thread.
    template <class T>
    void column(int64_t raw, const double* t, int64_t m, T* out, std::vector<double>& scratch) const {
        if (raw < 0 || raw >= size_) throw std::out_of_range("raw feature index out of range");
        const int64_t p = plane_of(raw), r1 = inner_of(raw);
        if (!valid_[static_cast<size_t>(p)]) {
            std::fill(out, out + m, T(0));
            return;
        }
        if (scratch.size() < static_cast<size_t>(m)) scratch.resize(static_cast<size_t>(m));
        project(p, t, m, scratch.data());
        if (depth_ == 2) {
            for (int64_t i = 0; i < m; ++i) out[i] = static_cast<T>(std::fabs(scratch[static_cast<size_t>(i)]));
            return;
        }
        const Family f = projected_family(p);
        std::vector<double> inner;
        f.column(r1, scratch.data(), m, out, inner);
    }

    // The last plane's projected 1-D family, kept between columns by one thread: consecutive raw indices
    // share their plane (r = p · M + r1), so a matrix-free pass builds each plane's family once.
    struct ProjectedCache {
        int64_t plane = -1;
        std::unique_ptr<Family> family;
        std::vector<double> projections, inner;
    };

    // column() at the training points, reusing cache.family when the plane repeats.
    template <class T>
    void column_at_data(int64_t raw, T* out, ProjectedCache& cache) const {
        if (raw < 0 || raw >= size_) throw std::out_of_range("raw feature index out of range");
        const int64_t p = plane_of(raw), r1 = inner_of(raw);
        if (!valid_[static_cast<size_t>(p)]) {
            std::fill(out, out + n_, T(0));
            return;
        }
        if (cache.plane != p) {
            cache.projections.resize(static_cast<size_t>(n_));
            project(p, x_.data(), n_, cache.projections.data());
            if (depth_ > 2) cache.family = std::make_unique<Family>(cache.projections.data(), n_, spec_);
            cache.plane = p;
        }
        if (depth_ == 2) {
            for (int64_t i = 0; i < n_; ++i) out[i] = static_cast<T>(std::fabs(cache.projections[static_cast<size_t>(i)]));
            return;
        }
        cache.family->column(r1, cache.projections.data(), n_, out, cache.inner);
    }

private:
    // Calls fn(subset) for every k-subset of 0..n-1 in lexicographic order.
    template <class Fn>
    static void for_each_subset(int64_t n, int k, Fn&& fn) {
        if (k > n) return;
        std::vector<int32_t> comb(static_cast<size_t>(k));
        for (int c = 0; c < k; ++c) comb[static_cast<size_t>(c)] = c;
        for (;;) {
            fn(comb.data());
            int c = k - 1;
            while (c >= 0 && comb[static_cast<size_t>(c)] == static_cast<int32_t>(n - k + c)) --c;
            if (c < 0) return;
            ++comb[static_cast<size_t>(c)];
            for (int j = c + 1; j < k; ++j) comb[static_cast<size_t>(j)] = comb[static_cast<size_t>(j - 1)] + 1;
        }
    }

    // Planes in raw order: l2, the d-subsets of points; l1, by subspace size q = 1..d, coordinate subset,
    // then q-subset of points (index_ padded with -1, coords_ the subspace, padded with -1).
    void build_planes() {
        const size_t P = static_cast<size_t>(planes_ + extra_), d = static_cast<size_t>(dim_);
        normals_.assign(P * d, 0.0);
        index_.assign(P * d, -1);
        coords_.assign(P * d, -1);
        valid_.assign(P, 0);
        size_t p = 0;
        auto add_block = [&](const int32_t* coords, int q) {
            for_each_subset(n_, q, [&](const int32_t* pts) {
                std::copy(pts, pts + q, index_.begin() + static_cast<int64_t>(p * d));
                std::copy(coords, coords + q, coords_.begin() + static_cast<int64_t>(p * d));
                ++p;
            });
        };
        if (norm_ == PlaneNorm::l2) {
            std::vector<int32_t> all(d);
            for (size_t c = 0; c < d; ++c) all[c] = static_cast<int32_t>(c);
            add_block(all.data(), dim_);
        } else {
            for (int q = 1; q <= dim_; ++q)
                for_each_subset(dim_, q, [&](const int32_t* coords) { add_block(coords, q); });
        }
        extra_type_.assign(static_cast<size_t>(extra_), 0);
        const int64_t Q = dim_ == 3 ? 3 * n_ * n_ + n_ * (n_ - 1) / 2 : 0, block_a = 2 * n_ * n_ * Q;
        for (int64_t e = 0; e < extra_; ++e) {
            const size_t pl = p + static_cast<size_t>(e);
            if (dim_ == 2) {  // lines through x[i] and a breakpoint point (the type is set below)
                index_[pl * d] = static_cast<int32_t>(e % n_);
                coords_[pl * d] = 0, coords_[pl * d + 1] = 1;
            } else if (e < block_a) {  // orthogonal to two star differences
                extra_type_[static_cast<size_t>(e)] = e / Q;
                index_[pl * d] = static_cast<int32_t>((e / Q) % n_);  // projections from x[j1]
                coords_[pl * d] = 0, coords_[pl * d + 1] = 1, coords_[pl * d + 2] = 2;
            } else {  // l1: in a coordinate plane, orthogonal to x[i] - f there
                const int64_t e2 = e - block_a, r1 = e2 / (3 * n_), J = (e2 / n_) % 3;
                extra_type_[static_cast<size_t>(e)] = r1;
                index_[pl * d] = static_cast<int32_t>(r1 % n_);
                coords_[pl * d] = J == 2 ? 1 : 0, coords_[pl * d + 1] = J == 0 ? 1 : 2;
            }
        }
        // (i, k) pairs with i < k in lexicographic order, for the d = 3 star pairs (2, 2).
        std::vector<std::pair<int32_t, int32_t>> upper;
        if (dim_ == 3)
            for (int32_t i = 0; i < n_; ++i)
                for (int32_t k = i + 1; k < n_; ++k) upper.emplace_back(i, k);
        parallel_for(0, planes_ + extra_, default_num_threads(), [&](int64_t lo, int64_t hi) {
            std::vector<double> nq(d), fold(d), zero(d, 0.0), diff1(d), diff2(d);
            std::vector<const double*> pts(d);
            for (int64_t pl = lo; pl < hi; ++pl) {
                const int32_t* coords = coords_.data() + pl * dim_;
                int q = 0;
                while (q < dim_ && coords[q] >= 0) ++q;
                if (pl < planes_) {
                    for (int c = 0; c < q; ++c) pts[static_cast<size_t>(c)] = x_.data() + static_cast<int64_t>(index_[static_cast<size_t>(pl * dim_ + c)]) * dim_;
                } else {
                    const int64_t e = pl - planes_;
                    if (dim_ == 2) {
                        const FoldLine line = fold_line(e);
                        extra_type_[static_cast<size_t>(e)] = line.type;
                        fold_point(line, fold.data());
                        pts[0] = x_.data() + (e % n_) * dim_;
                        pts[1] = fold.data();
                    } else {
                        const int64_t r1 = extra_type_[static_cast<size_t>(e)];
                        const double* a = x_.data() + (r1 % n_) * dim_;
                        const double* b = x_.data() + ((r1 / n_) % n_) * dim_;
                        for (size_t c = 0; c < d; ++c) fold[c] = r1 < n_ * n_ ? 2.0 * a[c] - b[c] : 0.5 * (a[c] + b[c]);
                        const double* centre[3] = {a, b, fold.data()};
                        // the hyperplane through 0 and the star differences (x[i] - c_s, x[k] - c_t)
                        int s1 = 2, s2 = 2;
                        int64_t i = 0, k = 0;
                        if (e < block_a) {
                            const int64_t qq = e % Q, nn = n_ * n_;
                            if (qq < 3 * nn) {
                                const int which = static_cast<int>(qq / nn);
                                s1 = which == 2 ? 1 : 0;
                                s2 = which == 0 ? 1 : 2;
                                i = (qq % nn) % n_, k = (qq % nn) / n_;
                            } else {
                                i = upper[static_cast<size_t>(qq - 3 * nn)].first, k = upper[static_cast<size_t>(qq - 3 * nn)].second;
                            }
                        } else {
                            i = (e - block_a) % n_;
                        }
                        for (size_t c = 0; c < d; ++c) {
                            diff1[c] = x_[static_cast<size_t>(i * dim_) + c] - centre[s1][c];
                            diff2[c] = x_[static_cast<size_t>(k * dim_) + c] - centre[s2][c];
                        }
                        pts[0] = zero.data(), pts[1] = diff1.data(), pts[2] = diff2.data();
                    }
                }
                const bool ok = plane_normal(pts.data(), coords, q, nq.data());
                valid_[static_cast<size_t>(pl)] = ok ? 1 : 0;
                if (!ok) continue;
                double scale = 1.0;
                if (norm_ == PlaneNorm::l1) {  // unit ℓ1 norm: the first layer's penalty is ‖w‖₁
                    scale = 0.0;
                    for (int c = 0; c < q; ++c) scale += std::fabs(nq[static_cast<size_t>(c)]);
                }
                double* out = normals_.data() + pl * dim_;
                for (int c = 0; c < q; ++c) out[coords[c]] = nq[static_cast<size_t>(c)] / scale;
            }
        }, 256);
    }

    int64_t n_;
    int dim_, depth_;
    PlaneNorm norm_;
    int64_t planes_ = 0, modes_ = 1, extra_ = 0, size_ = 0;
    FamilySpec spec_;
    std::vector<double> x_, normals_;
    std::vector<int32_t> index_, coords_;
    std::vector<int64_t> extra_type_;  // fold type r1 of each extra direction
    std::vector<uint8_t> valid_;
};

// Dedup tolerance of plane features: their values are distances within the data's bounding box.
inline double default_plane_tolerance(const PlaneFamily& f) {
    const int d = f.dim();
    const auto& x = f.x();
    double diag2 = 0.0, amax = 0.0;
    for (int c = 0; c < d; ++c) {
        double lo = x[static_cast<size_t>(c)], hi = lo;
        for (int64_t i = 0; i < f.n(); ++i) {
            const double v = x[static_cast<size_t>(i * d + c)];
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        diag2 += (hi - lo) * (hi - lo);
        amax = std::max(amax, std::max(std::fabs(lo), std::fabs(hi)));
    }
    return 1e-9 * std::sqrt(diag2) + 1024.0 * std::numeric_limits<double>::epsilon() * amax;
}

// Raw indices of one representative per class of columns equal up to sign and a constant (the first raw
// index), constant columns and degenerate planes dropped; the streaming scheme of dedup.hpp.
inline std::vector<int64_t> deduplicate(const PlaneFamily& family, double tol, int threads = default_num_threads(),
                                        size_t max_bytes = std::numeric_limits<size_t>::max()) {
    return detail::deduplicate_stream(family, tol, true, threads, max_bytes, nullptr,
                                      [&](int64_t r) { return !family.degenerate(family.plane_of(r)); });
}

// out (m x ncols, column-major) gets column c = feature raw[c] (raw == nullptr: 0..ncols-1) at points t.
template <class T>
void assemble(const PlaneFamily& family, const int64_t* raw, int64_t ncols, const double* t, int64_t m, T* out,
              int threads = default_num_threads()) {
    parallel_for(0, ncols, threads, [&](int64_t lo, int64_t hi) {
        std::vector<double> scratch;
        for (int64_t c = lo; c < hi; ++c) family.column(raw ? raw[c] : c, t, m, out + c * m, scratch);
    }, 16);
}

// Matrix-free dictionary of a plane library: columns are evaluated at the training points when the solver asks
// for them (O(N d) each at depth 2, O(N d + N L) deeper, the plane's projected family built once per run of
// columns on one plane), never stored; memory O(N + M). Column statistics are computed once, in parallel, by
// the dense two-pass formula (two_pass_stats: bitwise equal to the assembled column's).
class PlaneLibraryMatrix final : public DesignMatrix {
public:
    // kept: kept raw indices (not owned, must outlive this), or null for all family.size().
    PlaneLibraryMatrix(const PlaneFamily& family, const int64_t* kept, int64_t count, int threads = 0,
                       const std::atomic<bool>* stop = nullptr, std::atomic<int64_t>* progress = nullptr)
        : family_(family), raw_(kept), cols_(kept ? count : family.size()), n_(family.n()),
          threads_(threads > 0 ? threads : default_num_threads()), progress_(progress) {
        if (raw_)
            for (int64_t j = 0; j < cols_; ++j)
                if (raw_[j] < 0 || raw_[j] >= family.size()) throw std::out_of_range("raw feature index out of range");
        blocked_column_stats(cols_, n_, threads_, stop, progress_, mean_, centered_sq_, [this] {
            return [this, cache = PlaneFamily::ProjectedCache()](int64_t j, double* out) mutable {
                family_.column_at_data(raw(j), out, cache);
            };
        }, 64);
    }

    int64_t rows() const override { return n_; }
    int64_t cols() const override { return cols_; }
    int64_t raw(int64_t j) const { return raw_ ? raw_[j] : j; }

    void tmul(const double* v, const int64_t* idx, int64_t count, double* out) const override {
        if (count <= 0) return;
        std::vector<double> col(static_cast<size_t>(n_));
        PlaneFamily::ProjectedCache cache;
        for (int64_t k = 0; k < count; ++k) {
            family_.column_at_data(raw(idx[k]), col.data(), cache);
            out[k] = dot(col.data(), v, n_);
        }
        if (progress_) progress_->fetch_add(count, std::memory_order_relaxed);
    }

    void column(int64_t j, double* out) const override {
        PlaneFamily::ProjectedCache cache;
        family_.column_at_data(raw(j), out, cache);
    }

    void column_stats(int64_t j, double& mean, double& centered_sq) const override {
        mean = mean_[static_cast<size_t>(j)];
        centered_sq = centered_sq_[static_cast<size_t>(j)];
    }

private:
    const PlaneFamily& family_;
    const int64_t* raw_;
    int64_t cols_, n_;
    int threads_;
    std::atomic<int64_t>* progress_;
    std::vector<double> mean_, centered_sq_;
};

}  // namespace netmirror

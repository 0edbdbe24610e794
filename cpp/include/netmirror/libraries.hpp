// Feature libraries of the Lasso twins of neural networks (docs/libraries.md derives each family).
//
// A library is never stored: a Family maps a raw index in [0, size()) to a feature and evaluates it.
// Raw indices follow a mixed-radix layout per family so that the ReLU deep-narrow library matches the
// authors' column order exactly (data index fastest, then layer signs, then the reflection flag).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "activation.hpp"

#if defined(__GNUC__)
#define NETMIRROR_NOINLINE __attribute__((noinline))
#else
#define NETMIRROR_NOINLINE
#endif

namespace netmirror {

enum class Architecture : int { deep_narrow = 0, symmetrized = 1, rectangular = 2, tree = 3 };

inline const char* architecture_name(Architecture a) {
    switch (a) {
        case Architecture::deep_narrow: return "deep_narrow";
        case Architecture::symmetrized: return "symmetrized";
        case Architecture::rectangular: return "rectangular";
        case Architecture::tree: return "tree";
    }
    return "?";
}

enum class FeatureKind : int {
    nested = 0,       // g1 = s(s1(x - a1)), g_l = s(s_l(g_{l-1}(x) - g_{l-1}(p_l)))
    symmetrized = 1,  // h = s(x - a) + s(c - x), g = s(s2(h(x) - h(b))); level set of h symmetric about (a+c)/2
    switching = 2,    // s(sign * prod_t sign(x - t_k)): at most K switches along the line
    angular = 3,      // 2-D sign net without biases: sign(x_j cross x)
};

struct FamilySpec {
    Activation activation = Activation::relu;
    Architecture architecture = Architecture::deep_narrow;
    int depth = 2;           // number of weight layers L (L = 2 is one hidden layer)
    double slope = 0.0;      // leaky_relu negative slope (ignored otherwise)
    int64_t switches = 1;    // switching families: the most switches K a feature may have
    int input_dim = 1;       // 1, or 2 for the angular sign family
};

// Decoded feature, for describe() and the structured `features` array (not used on hot paths).
struct Feature {
    FeatureKind kind = FeatureKind::nested;
    int layers = 0;                  // nested activations in the feature (L - 1)
    int sign[4] = {1, 1, 1, 1};      // s_1..s_layers (switching: sign[0] is the overall sign)
    double a1 = 0.0;                 // first-layer breakpoint (symmetrized: a)
    double anchor[4] = {0, 0, 0, 0}; // anchor[l]: point whose value sets layer l+2's bias (symmetrized: c, b)
    int32_t index[4] = {-1, -1, -1, -1};  // data indices j_1..j_4 the feature is built from
    bool reflected = false;          // a1 = 2 x[j2] - x[j1] (ReLU/leaky depth 4); symmetrized: one of a, c is
                                     // x[j2] + x[j3] - x[j1] (both outer kinks on data points)
    bool midpoint = false;           // a1 is a (weighted) midpoint: partner[0] >= 0
    int partner[4] = {-1, -1, -1, -1};  // V-shaped units: layer l's level is the weighted midpoint of the levels
                                        // of x[j_l] and x[j_partner] (-1: the level of x[j_l] itself)
    double level[4] = {0, 0, 0, 0};  // level[l]: the value layer l+1 subtracts (level[0] = a1, then c_2, ...)
    int pattern = -1;                // V-shaped depth 4: a1 from the three-point relation, side pattern 0..5
    std::vector<int32_t> thresholds; // switching: data indices of the switch points
};

namespace detail {

inline uint64_t checked_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r) || r > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw std::overflow_error("library size does not fit in a signed 64-bit integer");
    return r;
}
inline uint64_t checked_add(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r) || r > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw std::overflow_error("library size does not fit in a signed 64-bit integer");
    return r;
}
inline uint64_t ipow(uint64_t b, int e) {
    uint64_t r = 1;
    for (int i = 0; i < e; ++i) r = checked_mul(r, b);
    return r;
}

// Activations as functors so the row loops specialise and vectorise.
struct Relu { NETMIRROR_HD double operator()(double u) const { return u > 0.0 ? u : 0.0; } };
struct Abs { NETMIRROR_HD double operator()(double u) const { return fabs(u); } };
struct Leaky {
    double slope;
    NETMIRROR_HD double operator()(double u) const { return u > 0.0 ? u : slope * u; }
};
struct Sign { NETMIRROR_HD double operator()(double u) const { return u >= 0.0 ? 1.0 : -1.0; } };
struct Threshold { NETMIRROR_HD double operator()(double u) const { return u >= 0.0 ? 1.0 : 0.0; } };

template <class Fn>
decltype(auto) with_activation(Activation a, double slope, Fn&& fn) {
    switch (a) {
        case Activation::relu: return fn(Relu{});
        case Activation::abs: return fn(Abs{});
        case Activation::leaky_relu: return fn(Leaky{slope});
        case Activation::sign: return fn(Sign{});
        case Activation::threshold: return fn(Threshold{});
    }
    return fn(Relu{});
}

// Per-point values of each feature kind, shared with the CUDA kernels (cuda/include/netmirror/cuda).
// g_H(t) of the nested recursion with H layers (levels c[1..H-1] precomputed).
template <class Act>
NETMIRROR_HD inline double nested_point(double t, Act act, const double* s, double a1, const double* c, int H) {
    double g = act(s[0] * (t - a1));
    for (int h = 1; h < H; ++h) g = act(s[h] * (g - c[h]));
    return g;
}
// act(s (h(t) - h(b))) with h(u) = act(u - a) + act(c - u); hb = h(b) precomputed.
template <class Act>
NETMIRROR_HD inline double symmetrized_point(double t, Act act, double a, double c, double s, double hb) {
    const double h = act(t - a) + act(c - t);
    return act(s * (h - hb));
}
// Thresholds in sorted[0..k) strictly above t: k minus std::upper_bound's position, by its algorithm.
NETMIRROR_HD inline int64_t count_above(const double* sorted, int64_t k, double t) {
    const double* first = sorted;
    for (int64_t len = k; len > 0;) {
        const int64_t half = len / 2;
        if (t < first[half]) {
            len = half;
        } else {
            first += half + 1;
            len -= half + 1;
        }
    }
    return k - (first - sorted);
}
// Each threshold above t flips the sign once (sign(0) = +1).
template <class Act>
NETMIRROR_HD inline double switching_point(double t, Act act, double sign, const double* sorted, int64_t k) {
    return act(sign * ((count_above(sorted, k, t) & 1) ? -1.0 : 1.0));
}
// sign(u cross t) for the 2-D sign family.
NETMIRROR_HD inline double angular_point(double u0, double u1, double t0, double t1) {
    const double cross = u0 * t1 - u1 * t0;
    return cross >= 0.0 ? 1.0 : -1.0;
}

// out[i] = g_H(t[i]) for the nested recursion with H layers (constants c[1..H-1] precomputed).
template <int H, class Act, class T>
void nested_rows(const double* t, int64_t n, T* out, Act act, const double* s, double a1, const double* c) {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(nested_point(t[i], act, s, a1, c, H));
}


// Sides (w_p, w_q, w_r; 1: the branch of slope -k) of the six three-point patterns of V-shaped depth-4 types:
// the ones that are not all equal (docs/libraries.md §1.1).
inline constexpr int kThreePointSides[6][3] = {{0, 0, 1}, {0, 1, 0}, {0, 1, 1}, {1, 0, 0}, {1, 0, 1}, {1, 1, 0}};

// Partner digits of a V-shaped mode m < H! (H levels): layer l < H - 1 has option t in 0..H-l-1, layer 0 the
// fastest digit; t = 0 is its own level, t >= 1 the partner layer l + t (partner[l] = -1 or l + t). The last
// level always takes its own.
inline void decode_partner_digits(uint64_t m, int H, int* partner) {
    for (int l = 0; l < H; ++l) partner[l] = -1;
    for (int l = 0; l + 1 < H; ++l) {
        const uint64_t opts = static_cast<uint64_t>(H - l);
        const int t = static_cast<int>(m % opts);
        m /= opts;
        partner[l] = t ? l + t : -1;
    }
}

}  // namespace detail

class Family {
public:
    // x: training inputs, n points of input_dim coordinates (row-major for 2-D); copied.
    Family(const double* x, int64_t n, const FamilySpec& spec) : spec_(spec), n_(n) {
        validate();
        x_.assign(x, x + n * spec.input_dim);
        if (spec_.activation == Activation::relu) spec_.slope = 0.0;
        if (spec_.activation == Activation::abs) spec_.slope = -1.0;
        size_ = static_cast<int64_t>(compute_size(spec_, n_, &switch_offsets_));
        if (kind() == FeatureKind::switching) build_binomials();
    }

    const FamilySpec& spec() const { return spec_; }
    int64_t n() const { return n_; }
    int64_t size() const { return size_; }
    const std::vector<double>& x() const { return x_; }
    int layers() const { return spec_.depth - 1; }

    FeatureKind kind() const {
        if (spec_.input_dim == 2) return FeatureKind::angular;
        switch (spec_.architecture) {
            case Architecture::symmetrized: return FeatureKind::symmetrized;
            case Architecture::rectangular:
            case Architecture::tree: return FeatureKind::switching;
            default: return FeatureKind::nested;
        }
    }

    // The raw library size of a family on n points; throws std::overflow_error past int64.
    // switch_offsets (optional) receives the first raw index of each switch count k = 1..K.
    static uint64_t compute_size(const FamilySpec& spec, int64_t n, std::vector<uint64_t>* switch_offsets = nullptr) {
        const uint64_t N = static_cast<uint64_t>(n);
        const int H = spec.depth - 1;
        if (spec.input_dim == 2) return N;
        switch (spec.architecture) {
            // a, c, b on data points (2 N^3), plus a or c on a data point and the other the reflection
            // x[j2] + x[j3] - x[j1] with both outer kinks on data points (2 orders x 2 signs x N^3)
            case Architecture::symmetrized: return detail::checked_mul(6, detail::ipow(N, 3));
            case Architecture::rectangular:
            case Architecture::tree: {
                const uint64_t K = std::min<uint64_t>(static_cast<uint64_t>(spec.switches), N);
                uint64_t total = 0, binom = 1;  // binom = C(N, k)
                if (switch_offsets) switch_offsets->assign(1, 0);
                for (uint64_t k = 1; k <= K; ++k) {
                    // C(N, k) = C(N, k-1) * (N - k + 1) / k; dividing by g = gcd(C(N, k-1), k) first keeps
                    // it exact (k / g divides N - k + 1) and overflow-checked.
                    const uint64_t g = std::gcd(binom, k);
                    binom = detail::checked_mul(binom / g, (N - k + 1) / (k / g));
                    total = detail::checked_add(total, detail::checked_mul(2, binom));
                    if (switch_offsets) switch_offsets->push_back(total);
                }
                return total;
            }
            case Architecture::deep_narrow:
            default: {
                const uint64_t modes = nested_mode_count(spec);
                if (spec.activation == Activation::abs) return detail::checked_mul(detail::ipow(N, H), modes);
                return detail::checked_mul(detail::ipow(detail::checked_mul(2, N), H), modes);
            }
        }
    }

    // V-shaped units (abs, leaky slope < 0) take equal values on both sides of their kink, so two data points
    // can share a level. A vertex of the bias arrangement may then fix layer l's level at the weighted midpoint
    // (g(x[j_l]) + k g(x[j_m]))/(1 + k), k = -slope, of two points whose later layer m puts its kink on both
    // (docs/libraries.md). Each layer l < H picks "own level" or a partner layer m in l+1..H: H! modes.
    static bool v_shaped(const FamilySpec& spec) {
        return spec.activation == Activation::abs || (spec.activation == Activation::leaky_relu && spec.slope < 0.0);
    }
    // relu / leaky (slope > 0) depth 4: the authors' reflection a1 = 2 x[j2] - x[j1] (flag).
    static bool has_reflection_flag(const FamilySpec& spec) {
        return !v_shaped(spec) && spec.depth == 4 &&
               (spec.activation == Activation::relu || spec.activation == Activation::leaky_relu);
    }
    // Depth 4 has one more V-shaped vertex: layer 3 kinks on x[p], x[q] on opposite branches of layer 2, whose
    // level is also pinned at x[r]: (1 + k) g1(x[r]) = g1(x[p]) + k g1(x[q]) fixes a1 (6 side patterns).
    static constexpr int kThreePointPatterns = 6;
    static uint64_t partner_mode_count(const FamilySpec& spec) {
        uint64_t m = 1;
        for (int h = 2; h < spec.depth; ++h) m *= static_cast<uint64_t>(h);  // (depth - 1)!
        return m;
    }
    static uint64_t nested_mode_count(const FamilySpec& spec) {
        if (spec.architecture != Architecture::deep_narrow || spec.input_dim != 1) return 1;
        if (v_shaped(spec)) return partner_mode_count(spec) + (spec.depth == 4 ? kThreePointPatterns : 0);
        return has_reflection_flag(spec) ? 2 : 1;
    }

    Feature feature(int64_t raw) const {
        check_raw(raw);
        Feature f;
        f.kind = kind();
        f.layers = layers();
        switch (f.kind) {
            case FeatureKind::nested: decode_nested(raw, f); break;
            case FeatureKind::symmetrized: decode_symmetrized(raw, f); break;
            case FeatureKind::switching: decode_switching(raw, f); break;
            case FeatureKind::angular:
                f.index[0] = static_cast<int32_t>(raw);
                f.layers = 1;
                break;
        }
        return f;
    }

    // out[0..m) = feature `raw` evaluated at the m points t (1-D: t[i]; 2-D: t[2i], t[2i+1]).
    // `scratch` is reused between calls by one thread.
    template <class T>
    void column(int64_t raw, const double* t, int64_t m, T* out, std::vector<double>& scratch) const {
        switch (kind()) {
            case FeatureKind::nested: nested_column(raw, t, m, out); return;
            case FeatureKind::symmetrized: symmetrized_column(raw, t, m, out); return;
            case FeatureKind::switching: switching_column(raw, t, m, out, scratch); return;
            case FeatureKind::angular: angular_column(raw, t, m, out); return;
        }
    }

    // Scalar evaluation of a decoded feature at one point (for C++ users and tests).
    double evaluate(const Feature& f, double t) const {
        const Activation a = spec_.activation;
        const double sl = spec_.slope;
        switch (f.kind) {
            case FeatureKind::nested: return nested_value(f, t, f.layers);
            case FeatureKind::symmetrized: {
                auto h = [&](double u) { return activate(a, sl, u - f.a1) + activate(a, sl, f.anchor[0] - u); };
                return activate(a, sl, f.sign[0] * (h(t) - h(f.anchor[1])));
            }
            case FeatureKind::switching: {
                int below = 0;
                for (int32_t j : f.thresholds) below += (t < x_[static_cast<size_t>(j)]) ? 1 : 0;
                return activate(a, sl, f.sign[0] * ((below & 1) ? -1.0 : 1.0));
            }
            case FeatureKind::angular: break;
        }
        throw std::invalid_argument("angular features need a 2-D point");
    }

private:
    void validate() const {
        if (n_ <= 0) throw std::invalid_argument("a library needs at least one data point");
        if (spec_.input_dim != 1 && spec_.input_dim != 2) throw std::invalid_argument("input_dim must be 1 or 2");
        if (spec_.depth < 2) throw std::invalid_argument("depth must be at least 2");
        if (spec_.input_dim == 2 && !(spec_.activation == Activation::sign && spec_.depth == 2))
            throw std::invalid_argument("2-D inputs are supported for 2-layer sign networks only");
        const bool binary = spec_.activation == Activation::sign || spec_.activation == Activation::threshold;
        switch (spec_.architecture) {
            case Architecture::deep_narrow:
                if (spec_.depth > (spec_.activation == Activation::abs ? 5 : 4))
                    throw std::invalid_argument("deep_narrow depth out of range");
                break;
            case Architecture::symmetrized:
                if (spec_.depth != 3 || binary || spec_.activation == Activation::abs)
                    throw std::invalid_argument("symmetrized libraries are 3-layer relu/leaky_relu");
                break;
            case Architecture::rectangular:
            case Architecture::tree:
                if (!binary) throw std::invalid_argument("rectangular/tree libraries are for sign/threshold");
                if (spec_.switches < 1) throw std::invalid_argument("switches must be >= 1");
                break;
        }
    }

    void check_raw(int64_t raw) const {
        if (raw < 0 || raw >= size_) throw std::out_of_range("raw feature index out of range");
    }

    // --- nested (deep narrow) -------------------------------------------------------------
    struct Nested {
        int H;
        double s[4];
        int32_t j[4];
        int partner[4];  // -1 or a later layer (0-based)
        int pattern;     // -1, or the side pattern of the three-point a1 (depth 4, V-shaped)
        bool reflected;
    };

    Nested decode_nested_raw(int64_t raw) const {
        Nested d{};
        d.H = layers();
        uint64_t rem = static_cast<uint64_t>(raw);
        const uint64_t N = static_cast<uint64_t>(n_);
        for (int i = 0; i < d.H; ++i) {
            d.j[i] = static_cast<int32_t>(rem % N);
            rem /= N;
        }
        const bool signed_layers = spec_.activation != Activation::abs;  // abs is even: signs are redundant
        for (int i = 0; i < d.H; ++i) {
            if (signed_layers) {
                d.s[i] = (rem % 2) ? 1.0 : -1.0;
                rem /= 2;
            } else {
                d.s[i] = 1.0;
            }
        }
        for (int i = 0; i < 4; ++i) d.partner[i] = -1;
        d.pattern = -1;
        if (v_shaped(spec_) && rem >= partner_mode_count(spec_)) {
            d.pattern = static_cast<int>(rem - partner_mode_count(spec_));
        } else if (v_shaped(spec_)) {
            detail::decode_partner_digits(rem, d.H, d.partner);
        } else {
            d.reflected = has_reflection_flag(spec_) && rem == 1;
        }
        return d;
    }

    // Levels of the nested recursion: level[0] = a1, level[h] = c_{h+1}, the value layer h subtracts.
    template <class Act>
    void nested_levels(const Nested& d, Act act, double* level) const {
        const double* x = x_.data();
        const double k = -spec_.slope;  // V-shaped units: slope ratio of the two branches (abs: 1)
        auto g = [&](double t, int upto) {  // first `upto` layers at t, with the levels known so far
            double v = act(d.s[0] * (t - level[0]));
            for (int h = 1; h < upto; ++h) v = act(d.s[h] * (v - level[h]));
            return v;
        };
        if (d.pattern >= 0) level[0] = three_point_a1(d);
        for (int h = d.pattern >= 0 ? 1 : 0; h < d.H; ++h) {
            const double own = h == 0 ? x[d.j[0]] : g(x[d.j[h]], h);
            if (d.partner[h] >= 0) {
                const double other = h == 0 ? x[d.j[d.partner[h]]] : g(x[d.j[d.partner[h]]], h);
                level[h] = (own + k * other) / (1.0 + k);
            } else if (h == 0 && d.reflected) {
                level[0] = 2.0 * x[d.j[1]] - x[d.j[0]];
            } else {
                level[h] = own;
            }
        }
    }

    // a1 with (1 + k) g1(x_r) = g1(x_p) + k g1(x_q), r = j[1] (layer 2's level), p = j[2] (layer 3's level),
    // q = j[0]. g1(x) = w_x s1 (x - a1) with w_x = 1 on the unit branch and -k on the other, so a1 is affine in
    // the data given the sides; the pattern picks (w_p, w_q, w_r) among the six that are not all equal.
    double three_point_a1(const Nested& d) const {
        const auto& sides = detail::kThreePointSides;
        const double k = -spec_.slope;
        const double* x = x_.data();
        const double wp = sides[d.pattern][0] ? -k : 1.0, wq = sides[d.pattern][1] ? -k : 1.0,
                     wr = sides[d.pattern][2] ? -k : 1.0;
        const double xp = x[d.j[2]], xq = x[d.j[0]], xr = x[d.j[1]];
        return (wp * xp + k * wq * xq - (1.0 + k) * wr * xr) / (wp + k * wq - (1.0 + k) * wr);
    }

    void decode_nested(int64_t raw, Feature& f) const {
        const Nested d = decode_nested_raw(raw);
        double level[4] = {0, 0, 0, 0};
        detail::with_activation(spec_.activation, spec_.slope, [&](auto act) {
            nested_levels(d, act, level);
            return 0;
        });
        for (int i = 0; i < d.H; ++i) {
            f.sign[i] = d.s[i] > 0 ? 1 : -1;
            f.index[i] = d.j[i];
            f.anchor[i] = i > 0 ? x_[static_cast<size_t>(d.j[i])] : 0.0;
            f.partner[i] = d.partner[i];
            f.level[i] = level[i];
        }
        f.a1 = level[0];
        f.reflected = d.reflected;
        f.midpoint = d.partner[0] >= 0;
        f.pattern = d.pattern;
    }

    double nested_value(const Feature& f, double t, int upto) const {
        const Activation a = spec_.activation;
        const double sl = spec_.slope;
        double g = activate(a, sl, f.sign[0] * (t - f.level[0]));
        for (int h = 1; h < upto; ++h) g = activate(a, sl, f.sign[h] * (g - f.level[h]));
        return g;
    }

    template <class T>
    void nested_column(int64_t raw, const double* t, int64_t m, T* out) const {
        const Nested d = decode_nested_raw(raw);
        detail::with_activation(spec_.activation, spec_.slope, [&](auto act) {
            double level[4] = {0, 0, 0, 0};
            nested_levels(d, act, level);
            switch (d.H) {
                case 1: detail::nested_rows<1>(t, m, out, act, d.s, level[0], level); break;
                case 2: detail::nested_rows<2>(t, m, out, act, d.s, level[0], level); break;
                case 3: detail::nested_rows<3>(t, m, out, act, d.s, level[0], level); break;
                default: detail::nested_rows<4>(t, m, out, act, d.s, level[0], level); break;
            }
            return 0;
        });
    }

    // --- symmetrized (3 layers) -------------------------------------------------------------
    // Raw r < 2 N^3: a = x[j1], c = x[j2], b = x[j3], sign digit last (the inner kinks a, c and one outer kink
    // on data points; h's level set is symmetric about (a + c)/2, so the other outer kink is a + c - b).
    // Raw r >= 2 N^3: both outer kinks on data points x[j2], x[j3] and one inner kink on x[j1]; the other
    // inner kink is then the generalized reflection x[j2] + x[j3] - x[j1]. Digits j1, j2, j3, sign, order
    // (order 0: a = x[j1]; order 1: c = x[j1]); b = x[j2].
    void decode_symmetrized(int64_t raw, Feature& f) const {
        const uint64_t N = static_cast<uint64_t>(n_);
        const uint64_t block = 2 * N * N * N;
        uint64_t rem = static_cast<uint64_t>(raw);
        const bool reflected = rem >= block;
        if (reflected) rem -= block;
        for (int i = 0; i < 3; ++i) {
            f.index[i] = static_cast<int32_t>(rem % N);
            rem /= N;
        }
        f.sign[0] = (rem % 2) ? 1 : -1;
        rem /= 2;
        const double x1 = x_[static_cast<size_t>(f.index[0])], x2 = x_[static_cast<size_t>(f.index[1])],
                     x3 = x_[static_cast<size_t>(f.index[2])];
        f.reflected = reflected;
        if (!reflected) {
            f.a1 = x1;
            f.anchor[0] = x2;
            f.anchor[1] = x3;
        } else {
            const double other = (x2 + x3) - x1;
            f.a1 = rem ? other : x1;
            f.anchor[0] = rem ? x1 : other;
            f.anchor[1] = x2;
        }
        f.layers = 2;
    }

    template <class T>
    void symmetrized_column(int64_t raw, const double* t, int64_t m, T* out) const {
        Feature f;
        decode_symmetrized(raw, f);
        const double a = f.a1, c = f.anchor[0], s = f.sign[0];
        detail::with_activation(spec_.activation, spec_.slope, [&](auto act) {
            const double hb = act(f.anchor[1] - a) + act(c - f.anchor[1]);
            for (int64_t i = 0; i < m; ++i) out[i] = static_cast<T>(detail::symmetrized_point(t[i], act, a, c, s, hb));
            return 0;
        });
    }

    // --- switching sets (sign/threshold rectangular and tree nets) ----------------------------
    void build_binomials() {
        const int64_t K = static_cast<int64_t>(switch_offsets_.size()) - 1;
        binom_.assign(static_cast<size_t>((n_ + 1) * (K + 1)), 0);
        for (int64_t a = 0; a <= n_; ++a) {
            binom_[static_cast<size_t>(a * (K + 1))] = 1;
            for (int64_t k = 1; k <= std::min(a, K); ++k) {
                // C(a, k) = C(a-1, k-1) + C(a-1, k); bounded by C(n, k) <= size, so no overflow
                const uint64_t up = binom_[static_cast<size_t>((a - 1) * (K + 1) + k - 1)];
                const uint64_t left = (k <= a - 1) ? binom_[static_cast<size_t>((a - 1) * (K + 1) + k)] : 0;
                binom_[static_cast<size_t>(a * (K + 1) + k)] = up + left;
            }
        }
    }
    uint64_t binom(int64_t a, int64_t k) const {
        const int64_t K = static_cast<int64_t>(switch_offsets_.size()) - 1;
        if (k < 0 || k > K || a < k) return 0;
        return binom_[static_cast<size_t>(a * (K + 1) + k)];
    }

    // Colex unranking of a k-subset of {0..n-1}: indices out[0] > out[1] > ... > out[k-1].
    void decode_switching_raw(int64_t raw, int& sign, std::vector<int32_t>& idx) const {
        uint64_t r = static_cast<uint64_t>(raw);
        const auto it = std::upper_bound(switch_offsets_.begin(), switch_offsets_.end(), r);
        const int64_t k = static_cast<int64_t>(it - switch_offsets_.begin());  // offsets[k-1] <= r < offsets[k]
        r -= switch_offsets_[static_cast<size_t>(k - 1)];
        sign = (r % 2) ? 1 : -1;
        uint64_t rank = r / 2;
        idx.resize(static_cast<size_t>(k));
        int64_t hi = n_ - 1;
        for (int64_t kk = k; kk >= 1; --kk) {
            while (binom(hi, kk) > rank) --hi;  // largest hi with C(hi, kk) <= rank
            rank -= binom(hi, kk);
            idx[static_cast<size_t>(k - kk)] = static_cast<int32_t>(hi);
            --hi;
        }
    }

    void decode_switching(int64_t raw, Feature& f) const {
        decode_switching_raw(raw, f.sign[0], f.thresholds);
        for (size_t i = 0; i < std::min<size_t>(4, f.thresholds.size()); ++i) f.index[i] = f.thresholds[i];
    }

    template <class T>
    void switching_column(int64_t raw, const double* t, int64_t m, T* out, std::vector<double>& scratch) const {
        int sign = 1;
        thread_local std::vector<int32_t> idx;
        decode_switching_raw(raw, sign, idx);
        scratch.resize(idx.size());
        for (size_t i = 0; i < idx.size(); ++i) scratch[i] = x_[static_cast<size_t>(idx[i])];
        std::sort(scratch.begin(), scratch.end());
        detail::with_activation(spec_.activation, spec_.slope, [&](auto act) {
            const int64_t k = static_cast<int64_t>(scratch.size());
            for (int64_t i = 0; i < m; ++i)
                out[i] = static_cast<T>(detail::switching_point(t[i], act, sign, scratch.data(), k));
            return 0;
        });
    }

    // --- angular (2-D sign nets without biases) ----------------------------------------------
    // Not inlined: the kind is a runtime property, and once inlined into a caller that passes a short 1-D
    // array GCC's -Warray-bounds flags these 2-D reads on a path that never runs.
    template <class T>
    NETMIRROR_NOINLINE void angular_column(int64_t raw, const double* t, int64_t m, T* out) const {
        const double u0 = x_[static_cast<size_t>(2 * raw)], u1 = x_[static_cast<size_t>(2 * raw + 1)];
        for (int64_t i = 0; i < m; ++i) out[i] = static_cast<T>(detail::angular_point(u0, u1, t[2 * i], t[2 * i + 1]));
    }

    FamilySpec spec_;
    int64_t n_;
    int64_t size_ = 0;
    std::vector<double> x_;
    std::vector<uint64_t> switch_offsets_;  // switching: first raw index of each k (offsets[0] = 0)
    std::vector<uint64_t> binom_;           // switching: C(a, k), a <= n, k <= K
};

}  // namespace netmirror

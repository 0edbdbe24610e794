// Matrix-free dictionaries: a library's columns are evaluated when the solver asks for them, never stored.
//
// LibraryMatrix is a DesignMatrix over a Family, the training points and an optional list of kept raw
// indices. Memory is O(N + M): the sorted data, the cached column statistics (two doubles per column) and
// one column buffer per thread.
//
// Correlations a_j^T v take one of two routes:
// - streaming (every family): evaluate the column into a buffer, dot it with v: O(N) per column;
// - structured (deep-narrow relu / leaky_relu / abs, every depth): the feature is piecewise linear in x
//   with at most 2^H - 1 kinks, so sum_i v_i f(x_i) is a sum over the pieces of
//   val * sum_piece v + slope * sum_piece v (x - kink), read off prefix sums of v and x v over the sorted
//   data: O(kinks log N) per column, plus O(N log N) per call for the prefix sums.
// The structured form is exact in real arithmetic; in floating point its error is about
// eps * max|slope| * R * ||v||_1 (R: distance of the data from their median, prefix sums in double-double),
// against eps * max|f| * ||v||_1 for the dense dot product. A column whose max|slope| * R exceeds
// kTrustRatio * max|f| (a narrow feature far from the median: a capped ramp between close points) is
// streamed instead, which keeps every correlation within ~1e-12 * max|f| * ||v||_1 of the dense one.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "libraries.hpp"
#include "matrix.hpp"
#include "parallel.hpp"

namespace netmirror {

namespace detail {

// A continuous piecewise-linear function of one variable: knots k[0] < ... < k[p-1], values at the knots,
// slope[q] on piece q (piece 0 is the ray left of k[0], piece p the ray right of k[p-1]).
struct PiecewiseLinear {
    static constexpr int kMaxKnots = 31;  // 2^H - 1 for H <= 4 hidden layers (abs depth 5)
    int p = 0;
    double knot[kMaxKnots], value[kMaxKnots], slope[kMaxKnots + 1];

    // h = act(s (g - c)) for g = *this, written into h (not in place: the knots of g are read throughout).
    // act is u (u > 0), alpha u (u <= 0).
    template <class Act>
    void compose(Act act, double alpha, double s, double c, PiecewiseLinear& h) const {
        h.p = 0;
        // Sign of g - c on piece q of g (constant there once the crossings are split off), from a point
        // inside: the midpoint for inner pieces, the far end for the rays.
        auto side = [](double lo_value, double hi_value) {
            const double w = lo_value + hi_value;  // the two ends do not have strictly opposite signs
            return w > 0 ? 1.0 : (w < 0 ? -1.0 : 0.0);
        };
        auto push = [&](double k, double v) {
            h.knot[h.p] = k;
            h.value[h.p] = v;
            ++h.p;
        };
        auto piece_slope = [&](double sign_g_minus_c, double g_slope) {
            const double u = s * sign_g_minus_c;
            return (u > 0 ? 1.0 : alpha) * s * g_slope;
        };
        // left ray: g(x) = value[0] + slope[0] (x - knot[0]) for x < knot[0]
        {
            const double w0 = value[0] - c;
            const double far = slope[0] > 0 ? -1.0 : (slope[0] < 0 ? 1.0 : (w0 > 0 ? 1.0 : (w0 < 0 ? -1.0 : 0.0)));
            if (slope[0] != 0.0 && (w0 > 0) == (slope[0] > 0) && w0 != 0.0) {
                // crosses c left of knot[0]
                h.slope[0] = piece_slope(far, slope[0]);
                push(knot[0] - w0 / slope[0], act(0.0));
                h.slope[1] = piece_slope(-far, slope[0]);
            } else {
                h.slope[0] = piece_slope(far, slope[0]);
            }
        }
        for (int q = 0; q < p; ++q) {
            push(knot[q], act(s * (value[q] - c)));
            if (q + 1 == p) break;
            const double wl = value[q] - c, wr = value[q + 1] - c;
            if ((wl > 0 && wr < 0) || (wl < 0 && wr > 0)) {
                double k = knot[q] - wl / slope[q + 1];
                k = std::min(std::max(k, knot[q]), knot[q + 1]);  // rounding must not reorder the knots
                h.slope[h.p] = piece_slope(wl > 0 ? 1.0 : -1.0, slope[q + 1]);
                push(k, act(0.0));
                h.slope[h.p] = piece_slope(wr > 0 ? 1.0 : -1.0, slope[q + 1]);
            } else {
                h.slope[h.p] = piece_slope(side(wl, wr), slope[q + 1]);
            }
        }
        // right ray
        {
            const double wp = value[p - 1] - c;
            const double sp = slope[p];
            const double far = sp > 0 ? 1.0 : (sp < 0 ? -1.0 : (wp > 0 ? 1.0 : (wp < 0 ? -1.0 : 0.0)));
            if (sp != 0.0 && wp != 0.0 && (wp > 0) != (sp > 0)) {
                h.slope[h.p] = piece_slope(-far, sp);
                push(knot[p - 1] - wp / sp, act(0.0));
                h.slope[h.p] = piece_slope(far, sp);
            } else {
                h.slope[h.p] = piece_slope(far, sp);
            }
        }
    }

    // Value at x (for the range of the data: max |f|).
    double operator()(double x) const {
        const int q = static_cast<int>(std::upper_bound(knot, knot + p, x) - knot);  // piece of x
        const int ref = q == 0 ? 0 : q - 1;
        return value[ref] + slope[q] * (x - knot[ref]);
    }
};

// Exact-ish sums: s + e holds the running sum to about eps^2 relative (Knuth's TwoSum).
inline void two_sum_add(double& s, double& e, double t) {
    const double a = s + t;
    const double bb = a - s;
    e += (s - (a - bb)) + (t - bb);
    s = a;
}

}  // namespace detail

class LibraryMatrix final : public DesignMatrix {
public:
    enum class Route { automatic, streaming, structured };
    // Above this ratio of max|slope| * R to max|f| the structured form could lose accuracy: stream.
    static constexpr double kTrustRatio = 1024.0;

    // raw: kept raw indices (count of them, not owned, must outlive this), or null for all family.size().
    // The column statistics are computed here, in parallel; `stop` (optional) aborts with Interrupted and
    // `progress` (optional) counts the columns evaluated, here and in tmul.
    LibraryMatrix(const Family& family, const int64_t* raw, int64_t count, Route route = Route::automatic,
                  int threads = 0, const std::atomic<bool>* stop = nullptr,
                  std::atomic<int64_t>* progress = nullptr)
        : family_(family), raw_(raw), cols_(raw ? count : family.size()), n_(family.n()),
          threads_(threads > 0 ? threads : default_num_threads()), progress_(progress) {
        if (raw_) {
            for (int64_t j = 0; j < cols_; ++j)
                if (raw_[j] < 0 || raw_[j] >= family.size())
                    throw std::out_of_range("raw feature index out of range");
        }
        const auto& spec = family.spec();
        const bool piecewise_linear = family.kind() == FeatureKind::nested && is_piecewise_linear(spec.activation) &&
                                      spec.input_dim == 1 && spec.depth <= 5;  // 2^H - 1 <= kMaxKnots
        if (route == Route::structured && !piecewise_linear)
            throw std::invalid_argument("the structured route needs a deep-narrow relu, leaky_relu or abs library");
        structured_ = route == Route::structured ||
                      (route == Route::automatic && piecewise_linear && n_ >= structured_threshold(spec));
        if (structured_) sort_points();
        compute_stats(stop);
    }

    int64_t rows() const override { return n_; }
    int64_t cols() const override { return cols_; }
    bool structured() const { return structured_; }
    int64_t raw(int64_t j) const { return raw_ ? raw_[j] : j; }

    // Points from which the automatic route uses prefix sums. A structured column costs O(2^H) work
    // (2^H - 1 kinks), a streamed one O(N H); measured crossovers on two cores (bench/README.md):
    // relu/leaky about 16 * 2^H points, V-shaped units (abs, leaky < 0: cheaper to stream, more kinks) 48 * 2^H.
    static int64_t structured_threshold(const FamilySpec& spec) {
        const int64_t kinks = int64_t(1) << (spec.depth - 1);
        return (Family::v_shaped(spec) ? 48 : 16) * kinks;
    }

    void tmul(const double* v, const int64_t* idx, int64_t count, double* out) const override {
        if (count <= 0) return;
        std::vector<double> col(static_cast<size_t>(n_)), scratch;
        if (!structured_) {
            for (int64_t k = 0; k < count; ++k) {
                family_.column(raw(idx[k]), family_.x().data(), n_, col.data(), scratch);
                out[k] = dot(col.data(), v, n_);
            }
        } else {
            const PrefixSums ps = prefix_sums(v);
            for (int64_t k = 0; k < count; ++k) {
                if (!structured_tmul(raw(idx[k]), ps, out[k])) {
                    family_.column(raw(idx[k]), family_.x().data(), n_, col.data(), scratch);
                    out[k] = dot(col.data(), v, n_);
                }
            }
        }
        if (progress_) progress_->fetch_add(count, std::memory_order_relaxed);
    }

    void column(int64_t j, double* out) const override {
        thread_local std::vector<double> scratch;
        family_.column(raw(j), family_.x().data(), n_, out, scratch);
    }

    void column_stats(int64_t j, double& mean, double& centered_sq) const override {
        mean = mean_[static_cast<size_t>(j)];
        centered_sq = centered_sq_[static_cast<size_t>(j)];
    }

    // Columns whose structured correlation fell back to streaming (accuracy guard), for tests and benches.
    int64_t streamed_fallbacks() const { return fallbacks_.load(std::memory_order_relaxed); }

private:
    struct PrefixSums {
        std::vector<double> v, v_err, xv, xv_err;  // double-double prefix sums in sorted order, N + 1 entries
    };

    void sort_points() {
        const auto& x = family_.x();
        order_.resize(static_cast<size_t>(n_));
        std::iota(order_.begin(), order_.end(), int64_t(0));
        std::stable_sort(order_.begin(), order_.end(), [&](int64_t a, int64_t b) { return x[a] < x[b]; });
        center_ = x[order_[static_cast<size_t>(n_ / 2)]];  // the median: keeps |x - center| <= range
        shifted_.resize(static_cast<size_t>(n_));
        for (int64_t i = 0; i < n_; ++i) shifted_[i] = x[order_[i]] - center_;
        radius_ = std::max(std::fabs(shifted_.front()), std::fabs(shifted_.back()));
        // Bucket index over [lo, hi]: a knot's position in the sorted data is found in its bucket (a few
        // points) instead of by a branchy binary search over all N (the main cost of a structured column).
        const double lo = shifted_.front(), hi = shifted_.back();
        const int64_t buckets = 2 * n_;
        bucket_width_ = (hi - lo) / static_cast<double>(buckets);
        edge_.resize(static_cast<size_t>(buckets + 1));
        bucket_start_.resize(static_cast<size_t>(buckets + 1));
        for (int64_t b = 0; b <= buckets; ++b) {
            edge_[b] = b == buckets ? hi : lo + static_cast<double>(b) * bucket_width_;
            bucket_start_[b] = std::lower_bound(shifted_.begin(), shifted_.end(), edge_[b]) - shifted_.begin();
        }
    }

    // First sorted position with shifted x >= k (std::lower_bound), in O(1) for spread-out data.
    int64_t position(double k) const {
        if (!(k > shifted_.front())) return 0;
        if (k > shifted_.back()) return n_;
        const int64_t last = static_cast<int64_t>(edge_.size()) - 1;
        int64_t b = bucket_width_ > 0 ? static_cast<int64_t>((k - shifted_.front()) / bucket_width_) : 0;
        b = std::min(std::max<int64_t>(b, 0), last - 1);
        while (b > 0 && edge_[b] > k) --b;  // rounding of the division: settle edge[b] <= k < edge[b + 1]
        while (b + 1 < last && edge_[b + 1] <= k) ++b;
        const double* sx = shifted_.data();
        return std::lower_bound(sx + bucket_start_[b], sx + bucket_start_[b + 1], k) - sx;
    }

    PrefixSums prefix_sums(const double* v) const {
        PrefixSums ps;
        const size_t n1 = static_cast<size_t>(n_ + 1);
        ps.v.resize(n1), ps.v_err.resize(n1), ps.xv.resize(n1), ps.xv_err.resize(n1);
        double s = 0, se = 0, t = 0, te = 0;
        ps.v[0] = ps.v_err[0] = ps.xv[0] = ps.xv_err[0] = 0.0;
        for (int64_t i = 0; i < n_; ++i) {
            const double vi = v[order_[i]];
            detail::two_sum_add(s, se, vi);
            detail::two_sum_add(t, te, vi * shifted_[i]);
            ps.v[i + 1] = s, ps.v_err[i + 1] = se, ps.xv[i + 1] = t, ps.xv_err[i + 1] = te;
        }
        return ps;
    }

    // The feature as a piecewise-linear function of x - center_, built by the same recursion (and the
    // same levels) as Family::column, in one of the two buffers (ping-pong: no struct copies).
    const detail::PiecewiseLinear& piecewise(int64_t raw, detail::PiecewiseLinear (&buf)[2]) const {
        const Feature f = family_.feature(raw);
        const double alpha = family_.spec().slope;  // relu 0, abs -1 (set by Family)
        int cur = 0;
        detail::with_activation(family_.spec().activation, alpha, [&](auto act) {
            // layer 1: act(s1 (x - a1)), one kink at a1
            detail::PiecewiseLinear& g = buf[0];
            const double s1 = f.sign[0];
            g.p = 1;
            g.knot[0] = f.level[0] - center_;
            g.value[0] = act(0.0);
            g.slope[0] = (s1 > 0 ? alpha : 1.0) * s1;  // left of a1, s1 (x - a1) has the sign of -s1
            g.slope[1] = (s1 > 0 ? 1.0 : alpha) * s1;
            for (int h = 1; h < f.layers; ++h, cur ^= 1) buf[cur].compose(act, alpha, f.sign[h], f.level[h], buf[cur ^ 1]);
            return 0;
        });
        return buf[cur];
    }

    // out = sum_i v_i f(x_i) from the prefix sums; false when the accuracy guard asks for streaming.
    bool structured_tmul(int64_t raw, const PrefixSums& ps, double& out) const {
        detail::PiecewiseLinear buf[2];
        const detail::PiecewiseLinear& g = piecewise(raw, buf);
        const double lo = shifted_.front(), hi = shifted_.back();
        double fmax = std::max(std::fabs(g(lo)), std::fabs(g(hi))), smax = 0.0;
        for (int q = 0; q < g.p; ++q)
            if (g.knot[q] > lo && g.knot[q] < hi) fmax = std::max(fmax, std::fabs(g.value[q]));
        for (int q = 0; q <= g.p; ++q) smax = std::max(smax, std::fabs(g.slope[q]));
        if (fmax == 0.0) {  // zero on the data
            out = 0.0;
            return true;
        }
        double acc = 0.0, acc_err = 0.0, kmax = 0.0;
        int64_t begin = 0;
        for (int q = 0; q <= g.p; ++q) {
            // piece q holds the sorted points in [knot[q-1], knot[q]) (f is continuous: ties at a knot
            // may go either way)
            const int64_t end = q == g.p ? n_ : std::max(begin, position(g.knot[q]));
            if (end > begin) {
                const int ref = q == 0 ? 0 : q - 1;  // knot the piece's affine form is written around
                const double val = g.value[ref], sl = g.slope[q];
                if (val != 0.0 || sl != 0.0) {
                    const double sv = (ps.v[end] - ps.v[begin]) + (ps.v_err[end] - ps.v_err[begin]);
                    const double sxv = (ps.xv[end] - ps.xv[begin]) + (ps.xv_err[end] - ps.xv_err[begin]);
                    detail::two_sum_add(acc, acc_err, val * sv);
                    detail::two_sum_add(acc, acc_err, sl * (sxv - g.knot[ref] * sv));
                    kmax = std::max(kmax, std::fabs(g.knot[ref]));
                }
            }
            begin = end;
        }
        // Rounding of sxv - knot * sv and of the values at far knots scales with slope * (R + |knot|).
        if (smax * (radius_ + kmax) > kTrustRatio * fmax) {
            fallbacks_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        out = acc + acc_err;
        return true;
    }

    // mean and centered squared norm of every column, by the dense two-pass formula (bitwise equal to
    // DenseMatrix::column_stats on the assembled column).
    void compute_stats(const std::atomic<bool>* stop) {
        blocked_column_stats(cols_, n_, threads_, stop, progress_, mean_, centered_sq_, [this] {
            return [this, scratch = std::vector<double>()](int64_t j, double* out) mutable {
                family_.column(raw(j), family_.x().data(), n_, out, scratch);
            };
        }, 256);
    }

    const Family& family_;
    const int64_t* raw_;
    int64_t cols_, n_;
    int threads_;
    std::atomic<int64_t>* progress_;
    bool structured_ = false;
    std::vector<int64_t> order_;     // data indices in increasing x
    std::vector<double> shifted_;    // sorted x - center_
    double center_ = 0.0, radius_ = 0.0;
    std::vector<double> edge_;          // bucket edges lo + b * width over the sorted shifted data
    std::vector<int64_t> bucket_start_; // lower_bound of each edge
    double bucket_width_ = 0.0;
    std::vector<double> mean_, centered_sq_;
    mutable std::atomic<int64_t> fallbacks_{0};
};

}  // namespace netmirror

// Streaming mean / covariance / second moment in float64, whatever the input dtype.
//
// Each update(X) is one batch: its (weighted) mean is computed first, then the scatter of the rows
// around that mean is added into the running centred scatter M2 with a blocked rank-k update of the
// upper triangle, and the batch is merged with Chan et al.'s pairwise formula
//     W = Wa + Wb,  delta = mean_b - mean_a,  mean += delta * Wb / W,
//     M2 = M2a + M2b + delta delta^T * Wa * Wb / W.
// Centring every batch on its own mean keeps full accuracy for data far from the origin (mean 1e15,
// std 1): accumulating sum(x x^T) and subtracting n mean mean^T would cancel ~30 digits there. The mean
// is exact to ~106 bits (a float64 pair); the kernel centres on it rounded to float64, and the known
// rounding's contribution is removed afterwards (see CovarianceAccumulator).
// The uncentred second moment E[x x^T] = M2 / W + mean mean^T is derived, never accumulated twice.
//
// Kernel: rows are taken in blocks of kDepth; each block is converted to float64, centred, scaled by
// sqrt(weight) and packed into 4-column panels; a 12x4 register-blocked micro-kernel adds
// A_i^T A_j into the column-major M2 for i <= j. The column panels are split between threads so that
// each owns a disjoint, work-balanced set of triangle columns (no locks, no reduction). float32 products
// are exact in float64, so float32 input loses nothing before the float64 sums.
// The AVX2+FMA micro-kernel is chosen at run time (no -march needed); elsewhere a portable one runs.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <mutex>
#include <string>
#include <vector>

#include "parallel.hpp"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define NETMIRROR_COV_X86_DISPATCH 1
#endif

namespace netmirror {

namespace cov_detail {

constexpr int64_t kPanel = 4;       // packed panel width: one micro-tile column block
constexpr int64_t kTileRows = 12;   // micro-tile rows: three packed panels
constexpr int64_t kDepth = 256;     // rows per packed block (the rank-k depth)
constexpr int64_t kL2Columns = 96;  // A columns kept in L2 while the B panels stream past them (multiple of kTileRows)
static_assert(kL2Columns % kTileRows == 0, "A blocks must hold whole micro-tiles");

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// s + e = a + b exactly, s = fl(a + b) (Knuth's TwoSum; needs no ordering of |a|, |b|).
inline void two_sum(double a, double b, double& s, double& e) {
    const double sum = a + b, bv = sum - a;
    e = (a - (sum - bv)) + (b - bv);
    s = sum;
}

// c[jj*ld + r] += sum_k a[k][r] * b[k][jj] for r < 12, jj < 4; a is three packed panels panel_stride apart.
inline void micro_kernel_portable(int64_t depth, const double* a, int64_t panel_stride, const double* b,
                                  double* c, int64_t ld) {
    double acc[4][12] = {};
    for (int64_t k = 0; k < depth; ++k) {
        const double* bk = b + k * kPanel;
        for (int q = 0; q < 3; ++q) {
            const double* ak = a + q * panel_stride + k * kPanel;
            for (int jj = 0; jj < 4; ++jj)
                for (int r = 0; r < 4; ++r) acc[jj][4 * q + r] += ak[r] * bk[jj];
        }
    }
    for (int jj = 0; jj < 4; ++jj)
        for (int r = 0; r < 12; ++r) c[jj * ld + r] += acc[jj][r];
}

#ifdef NETMIRROR_COV_X86_DISPATCH
// 12 accumulators: FMA latency (4-5 cycles) x 2 pipes needs at least 8-10 independent chains.
__attribute__((target("avx2,fma"))) inline void micro_kernel_avx2(int64_t depth, const double* a,
                                                                  int64_t panel_stride, const double* b,
                                                                  double* c, int64_t ld) {
    __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd(), c02 = _mm256_setzero_pd();
    __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd(), c12 = _mm256_setzero_pd();
    __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd(), c22 = _mm256_setzero_pd();
    __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd(), c32 = _mm256_setzero_pd();
    const double* a0 = a;
    const double* a1 = a + panel_stride;
    const double* a2 = a + 2 * panel_stride;
    for (int64_t k = 0; k < depth * kPanel; k += kPanel) {
        const __m256d x0 = _mm256_loadu_pd(a0 + k);
        const __m256d x1 = _mm256_loadu_pd(a1 + k);
        const __m256d x2 = _mm256_loadu_pd(a2 + k);
        __m256d bj = _mm256_broadcast_sd(b + k + 0);
        c00 = _mm256_fmadd_pd(x0, bj, c00);
        c01 = _mm256_fmadd_pd(x1, bj, c01);
        c02 = _mm256_fmadd_pd(x2, bj, c02);
        bj = _mm256_broadcast_sd(b + k + 1);
        c10 = _mm256_fmadd_pd(x0, bj, c10);
        c11 = _mm256_fmadd_pd(x1, bj, c11);
        c12 = _mm256_fmadd_pd(x2, bj, c12);
        bj = _mm256_broadcast_sd(b + k + 2);
        c20 = _mm256_fmadd_pd(x0, bj, c20);
        c21 = _mm256_fmadd_pd(x1, bj, c21);
        c22 = _mm256_fmadd_pd(x2, bj, c22);
        bj = _mm256_broadcast_sd(b + k + 3);
        c30 = _mm256_fmadd_pd(x0, bj, c30);
        c31 = _mm256_fmadd_pd(x1, bj, c31);
        c32 = _mm256_fmadd_pd(x2, bj, c32);
    }
    // (a lambda would not inherit the avx2 target, so the stores are a loop over pointers)
    __m256d* const acc[12] = {&c00, &c01, &c02, &c10, &c11, &c12, &c20, &c21, &c22, &c30, &c31, &c32};
    for (int q = 0; q < 12; ++q) {
        double* p = c + (q / 3) * ld + (q % 3) * 4;
        _mm256_storeu_pd(p, _mm256_add_pd(_mm256_loadu_pd(p), *acc[q]));
    }
}
#endif

using MicroKernel = void (*)(int64_t, const double*, int64_t, const double*, double*, int64_t);

// NETMIRROR_COV_KERNEL=portable forces the portable kernel (tests and benchmarks compare both).
inline MicroKernel select_micro_kernel() {
    if (const char* env = std::getenv("NETMIRROR_COV_KERNEL"))
        if (std::string(env) == "portable") return micro_kernel_portable;
#ifdef NETMIRROR_COV_X86_DISPATCH
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return micro_kernel_avx2;
#endif
    return micro_kernel_portable;
}

inline const char* micro_kernel_name() {
    return select_micro_kernel() == micro_kernel_portable ? "portable" : "avx2+fma";
}

// A strided (n x dim) view: element (i, j) at data[i * row_stride + j * col_stride] (strides in elements).
template <class T>
struct RowsView {
    const T* data;
    int64_t rows, cols, row_stride, col_stride;
    T at(int64_t i, int64_t j) const { return data[i * row_stride + j * col_stride]; }
};

// C-order rows: contiguous reads, 4 columns at a time per panel. Always inlined, so the AVX2 wrapper
// below compiles it with 256-bit conversions (float -> double) without assuming -march.
template <class T>
__attribute__((always_inline)) inline void pack_c_order(const RowsView<T>& x, int64_t row0, int64_t depth,
                                                         int64_t full_cols, const double* center,
                                                         const double* row_scale, double* dst) {
    const int64_t panel_stride = depth * kPanel;
    for (int64_t k = 0; k < depth; ++k) {
        const double s = row_scale ? row_scale[row0 + k] : 1.0;
        const T* row = x.data + (row0 + k) * x.row_stride;
        for (int64_t j = 0; j < full_cols; j += kPanel) {
            double* o = dst + (j / kPanel) * panel_stride + k * kPanel;
            for (int r = 0; r < kPanel; ++r) o[r] = (static_cast<double>(row[j + r]) - center[j + r]) * s;
        }
    }
}

#ifdef NETMIRROR_COV_X86_DISPATCH
template <class T>
__attribute__((target("avx2,fma"))) void pack_c_order_avx2(const RowsView<T>& x, int64_t row0, int64_t depth,
                                                            int64_t full_cols, const double* center,
                                                            const double* row_scale, double* dst) {
    pack_c_order(x, row0, depth, full_cols, center, row_scale, dst);
}
#endif

inline bool cpu_has_avx2() {
#ifdef NETMIRROR_COV_X86_DISPATCH
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return has;
#else
    return false;
#endif
}

// Packs rows [row0, row0 + depth) and columns [0, ncols) (ncols a multiple of kPanel) as float64
// (x - center) * row_scale into panels: dst[(j / 4) * depth * 4 + k * 4 + j % 4]; columns >= cols are 0.
template <class T>
void pack_block(const RowsView<T>& x, int64_t row0, int64_t depth, int64_t ncols, const double* center,
                const double* row_scale, double* dst) {
    const int64_t real_cols = std::min(ncols, x.cols);
    const int64_t panel_stride = depth * kPanel;
    if (x.col_stride == 1) {  // C order
        const int64_t full_cols = (real_cols / kPanel) * kPanel;
#ifdef NETMIRROR_COV_X86_DISPATCH
        if (cpu_has_avx2())
            pack_c_order_avx2(x, row0, depth, full_cols, center, row_scale, dst);
        else
#endif
            pack_c_order(x, row0, depth, full_cols, center, row_scale, dst);
        for (int64_t k = 0; k < depth; ++k) {
            const double s = row_scale ? row_scale[row0 + k] : 1.0;
            const T* row = x.data + (row0 + k) * x.row_stride;
            for (int64_t j = full_cols; j < real_cols; ++j)
                dst[(j / kPanel) * panel_stride + k * kPanel + j % kPanel] = (static_cast<double>(row[j]) - center[j]) * s;
        }
    } else if (std::abs(x.col_stride) <= std::abs(x.row_stride)) {  // strided rows: read along rows
        for (int64_t k = 0; k < depth; ++k) {
            const double s = row_scale ? row_scale[row0 + k] : 1.0;
            const T* row = x.data + (row0 + k) * x.row_stride;
            for (int64_t j = 0; j < real_cols; ++j)
                dst[(j / kPanel) * panel_stride + k * kPanel + j % kPanel] =
                    (static_cast<double>(row[j * x.col_stride]) - center[j]) * s;
        }
    } else {  // column-major-ish: read along columns
        for (int64_t j = 0; j < real_cols; ++j) {
            const T* col = x.data + j * x.col_stride + row0 * x.row_stride;
            double* out = dst + (j / kPanel) * panel_stride + j % kPanel;
            const double cj = center[j];
            if (row_scale) {
                for (int64_t k = 0; k < depth; ++k)
                    out[k * kPanel] = (static_cast<double>(col[k * x.row_stride]) - cj) * row_scale[row0 + k];
            } else {
                for (int64_t k = 0; k < depth; ++k) out[k * kPanel] = static_cast<double>(col[k * x.row_stride]) - cj;
            }
        }
    }
    for (int64_t j = real_cols; j < ncols; ++j)
        for (int64_t k = 0; k < depth; ++k) dst[(j / kPanel) * panel_stride + k * kPanel + j % kPanel] = 0.0;
}

// Adds sum_k s_k^2 (x_k - center)(x_k - center)^T into the upper triangle of the column-major
// (ld x ld) matrix c, ld a multiple of kTileRows >= x.cols. row_scale = sqrt(weights) or null.
// A raised `stop` ends every thread at its next block of rows (c is then partly updated: the caller
// discards it).
template <class T>
void add_centered_scatter(const RowsView<T>& x, const double* center, const double* row_scale, double* c,
                          int64_t ld, int threads, const std::atomic<bool>* stop = nullptr) {
    const MicroKernel kernel = select_micro_kernel();
    const int64_t n_panels = (x.cols + kPanel - 1) / kPanel;  // B panels: padding columns of ld are skipped
    const double work = static_cast<double>(x.rows) * static_cast<double>(ld) * static_cast<double>(ld);
    if (work < 4.0e6) threads = 1;  // thread start-up costs more than the work
    threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n_panels / 2)));
    // Thread t owns column panels [bounds[t], bounds[t+1]); work up to column j grows like j^2.
    std::vector<int64_t> bounds(static_cast<size_t>(threads) + 1);
    for (int t = 0; t <= threads; ++t)
        bounds[static_cast<size_t>(t)] =
            std::min(n_panels, static_cast<int64_t>(std::llround(n_panels * std::sqrt(double(t) / threads))));
    bounds.back() = n_panels;
    parallel_for(0, threads, threads, [&](int64_t t_lo, int64_t t_hi) {
        for (int64_t t = t_lo; t < t_hi; ++t) {
            const int64_t p_begin = bounds[static_cast<size_t>(t)], p_end = bounds[static_cast<size_t>(t) + 1];
            if (p_begin >= p_end) continue;
            // The A side needs every column up to the last owned one: each thread packs its own copy
            // (packing is O(1/dim) of the flops), so threads never wait on each other.
            const int64_t ncols = round_up(p_end * kPanel, kTileRows);
            std::vector<double> packed(static_cast<size_t>(kDepth * ncols));
            for (int64_t row0 = 0; row0 < x.rows; row0 += kDepth) {
                if (stop && stop->load(std::memory_order_relaxed)) return;
                const int64_t depth = std::min(kDepth, x.rows - row0);
                pack_block(x, row0, depth, ncols, center, row_scale, packed.data());
                const int64_t panel_stride = depth * kPanel;
                const int64_t j_end = p_end * kPanel;
                // Blocks of A columns stay in L2 while every B panel right of them streams past.
                for (int64_t i0 = 0; i0 < j_end; i0 += kL2Columns) {
                    const int64_t i1 = std::min(i0 + kL2Columns, j_end);
                    for (int64_t p = std::max(p_begin, i0 / kPanel); p < p_end; ++p) {
                        const int64_t j = p * kPanel;
                        const double* b = packed.data() + p * panel_stride;
                        for (int64_t i = i0; i < i1 && i <= j; i += kTileRows) {
                            kernel(depth, packed.data() + (i / kPanel) * panel_stride, panel_stride, b, c + j * ld + i, ld);
                        }
                    }
                }
            }
        }
    }, 1);
}

}  // namespace cov_detail

// Running weighted count, mean and centred scatter M2 = sum_k w_k (x_k - mean)(x_k - mean)^T.
// Weights are frequency weights: weight 2 on a row equals that row twice.
//
// Accuracy far from the origin (mean 1e15, std 1): the mean is kept as an unevaluated sum hi + lo (about
// 106 bits), since Chan's correction term needs the difference of two means and a float64 mean is only
// good to half an ulp of itself (0.06 at 1e15). The batch mean shift + offset is split exactly (TwoSum,
// Knuth 1969) into c, its float64 rounding, and r; the kernel centres on c, which adds W r r^T to the
// batch's scatter (an error of ~1e-3 at mean 1e15 / std 1 if left), and that term is subtracted. The
// first batch is shifted by its first row of positive weight, later ones by the running mean; when that
// shift was far from the batch (compared with its spread) a second pass sums the batch mean - c from
// small deviations, so Chan's delta is accurate to rounding of the spread.
//
// Thread safety: every member function locks the accumulator's mutex, so concurrent updates, merges and
// reads of one accumulator run one after the other (a long update holds it throughout); a.merge(b) and
// b.merge(a) at once lock both in a deadlock-free order (std::scoped_lock). a.merge(a) doubles the data
// (as merging a copy would): count, total weight and scatter double, the mean stays.
class CovarianceAccumulator {
public:
    explicit CovarianceAccumulator(int64_t dim)
        : dim_(dim), ld_(cov_detail::round_up(std::max<int64_t>(dim, 1), cov_detail::kTileRows)),
          mean_hi_(static_cast<size_t>(std::max<int64_t>(dim, 0)), 0.0),
          mean_lo_(static_cast<size_t>(std::max<int64_t>(dim, 0)), 0.0), m2_(static_cast<size_t>(ld_ * ld_), 0.0) {
        if (dim < 1) throw std::invalid_argument("dim must be >= 1");
    }

    // Copies take the source's lock (a copy is one consistent state); the mutex itself is not copied.
    CovarianceAccumulator(const CovarianceAccumulator& other) {
        std::lock_guard<std::mutex> lock(other.mutex_);
        copy_state(other);
    }
    CovarianceAccumulator& operator=(const CovarianceAccumulator& other) {
        if (this != &other) {
            std::scoped_lock lock(mutex_, other.mutex_);
            copy_state(other);
        }
        return *this;
    }

    int64_t dim() const { return dim_; }  // set at construction (or by assignment, not concurrent): no lock
    int64_t count() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_;
    }
    double total_weight() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return weight_;
    }
    std::vector<double> mean_hi() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return mean_hi_;
    }
    std::vector<double> mean_lo() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return mean_lo_;
    }
    std::vector<double> mean() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<double> m(mean_hi_);
        for (int64_t j = 0; j < dim_; ++j) m[j] += mean_lo_[j];
        return m;
    }

    // One batch. weights: null or `rows` values, finite and >= 0. Throws std::invalid_argument (and leaves
    // the state unchanged) on non-finite input. With a `stop` flag the scatter is accumulated into a copy
    // of M2 (ld^2 more memory) that replaces it only when complete: a raised `stop` throws Interrupted
    // and leaves the state unchanged.
    template <class T>
    void update(const T* data, int64_t rows, int64_t row_stride, int64_t col_stride, const double* weights,
                int threads = default_num_threads(), const std::atomic<bool>* stop = nullptr) {
        if (rows < 0) throw std::invalid_argument("rows must be >= 0");
        if (rows == 0) return;
        const cov_detail::RowsView<T> x{data, rows, dim_, row_stride, col_stride};
        double batch_weight = static_cast<double>(rows);
        int64_t first = 0;  // first row of positive weight (0 when there is none)
        std::vector<double> row_scale;
        if (weights) {
            batch_weight = 0.0;
            first = -1;
            row_scale.resize(static_cast<size_t>(rows));
            for (int64_t i = 0; i < rows; ++i) {
                const double w = weights[i];
                if (!(w >= 0.0) || !std::isfinite(w)) throw std::invalid_argument("weights must be finite and >= 0");
                batch_weight += w;
                row_scale[static_cast<size_t>(i)] = std::sqrt(w);
                if (first < 0 && w > 0.0) first = i;
            }
            first = std::max<int64_t>(first, 0);
        }
        std::lock_guard<std::mutex> lock(mutex_);
        // Shift before summing so the batch mean is accurate: the running mean, else a row of the batch (a
        // zero-weight first row may lie anywhere).
        std::vector<double> shift(static_cast<size_t>(dim_));
        for (int64_t j = 0; j < dim_; ++j) shift[j] = weight_ > 0.0 ? mean_hi_[j] : static_cast<double>(x.at(first, j));
        const std::vector<double> offset = weighted_column_offsets(x, weights, batch_weight, shift, threads);
        if (stop && stop->load(std::memory_order_relaxed)) throw Interrupted();
        if (batch_weight == 0.0) {  // all weights zero: nothing to merge
            count_ += rows;
            return;
        }
        // The batch mean shift + offset exactly, as center (the float64 nearest to it: the kernel's centre)
        // + center_lo.
        std::vector<double> center(static_cast<size_t>(dim_)), center_lo(static_cast<size_t>(dim_));
        for (int64_t j = 0; j < dim_; ++j) cov_detail::two_sum(shift[j], offset[j], center[j], center_lo[j]);
        std::vector<double> scratch;
        if (stop) scratch = m2_;
        double* target = stop ? scratch.data() : m2_.data();
        std::vector<double> diag_before(static_cast<size_t>(dim_));
        for (int64_t j = 0; j < dim_; ++j) diag_before[j] = target[idx(j, j)];
        cov_detail::add_centered_scatter(x, center.data(), weights ? row_scale.data() : nullptr, target, ld_, threads,
                                         stop);
        if (stop && stop->load(std::memory_order_relaxed)) throw Interrupted();
        // The offset carries rounding e ~ g u (|offset| + spread) (g: summation growth), which Chan's term
        // factor * delta delta^T takes linearly: 2 factor |delta| e against the kernel's own g u M2. Where
        // that could exceed a quarter of it (a drifting stream: the shift far from the batch compared with
        // its spread), a second pass sums the batch mean - center from deviations of the size of the
        // spread. The first batch has no Chan term: its offset's rounding only moves the mean by g u spread.
        std::vector<double> batch_lo = center_lo;  // batch mean - center
        bool refine = false;
        if (weight_ > 0.0) {
            const double factor = weight_ * batch_weight / (weight_ + batch_weight);
            for (int64_t j = 0; j < dim_ && !refine; ++j) {
                const double delta = std::abs(offset[j] - mean_lo_[j]);
                const double spread = std::sqrt(std::max(0.0, target[idx(j, j)] - diag_before[j]) / batch_weight);
                refine = 8.0 * factor * delta * (std::abs(offset[j]) + spread) > target[idx(j, j)] + factor * delta * delta;
            }
        }
        if (refine) {
            batch_lo = weighted_column_offsets(x, weights, batch_weight, center, threads);
            if (stop && stop->load(std::memory_order_relaxed)) throw Interrupted();
        }
        if (stop) m2_.swap(scratch);
        count_ += rows;
        // The kernel centred the batch on center, batch_lo off its mean: its scatter exceeds the one around
        // the mean by W batch_lo batch_lo^T, removed in the pass of Chan's term. |batch_lo| <= |x_k - mean|
        // for every row (center is the float64 nearest to the mean), so that term is at most M2 and removing
        // it costs at most a bit; left in, it was issue 17's error (1.4e-3 at mean 1e15 / std 1).
        if (weight_ > 0.0) {
            std::vector<double> delta(static_cast<size_t>(dim_));  // batch mean - running mean (shift = hi)
            for (int64_t j = 0; j < dim_; ++j) delta[j] = (offset[j] - mean_lo_[j]) + (batch_lo[j] - center_lo[j]);
            merge_moments(batch_weight, delta, batch_lo.data());
        } else {
            for (int64_t j = 0; j < dim_; ++j)
                for (int64_t i = 0; i <= j; ++i) m2_[idx(i, j)] -= batch_weight * batch_lo[i] * batch_lo[j];
            for (int64_t j = 0; j < dim_; ++j) cov_detail::two_sum(center[j], batch_lo[j], mean_hi_[j], mean_lo_[j]);
            weight_ = batch_weight;
        }
    }

    // Adds the data of `other` (Chan et al.'s pairwise formula). merge(*this) doubles the data.
    void merge(const CovarianceAccumulator& other) {
        if (other.dim_ != dim_) throw std::invalid_argument("cannot merge accumulators of different dim");
        if (&other == this) {
            std::lock_guard<std::mutex> lock(mutex_);
            count_ *= 2;
            weight_ *= 2.0;
            for (int64_t j = 0; j < dim_; ++j)
                for (int64_t i = 0; i <= j; ++i) m2_[idx(i, j)] *= 2.0;
            return;
        }
        std::scoped_lock lock(mutex_, other.mutex_);
        count_ += other.count_;
        if (other.weight_ == 0.0) return;
        for (int64_t j = 0; j < dim_; ++j)
            for (int64_t i = 0; i <= j; ++i) m2_[idx(i, j)] += other.m2_[idx(i, j)];
        if (weight_ > 0.0) {
            std::vector<double> delta(static_cast<size_t>(dim_));  // (other.hi + other.lo) - (hi + lo)
            for (int64_t j = 0; j < dim_; ++j) {
                double s, e;
                cov_detail::two_sum(other.mean_hi_[j], -mean_hi_[j], s, e);
                delta[j] = s + (e + (other.mean_lo_[j] - mean_lo_[j]));
            }
            merge_moments(other.weight_, delta);
        } else {
            mean_hi_ = other.mean_hi_;
            mean_lo_ = other.mean_lo_;
            weight_ = other.weight_;
        }
    }

    // Full symmetric M2 into out (dim x dim, row-major = column-major); returns the total weight it goes with.
    double scatter(double* out) const {
        std::lock_guard<std::mutex> lock(mutex_);
        for (int64_t j = 0; j < dim_; ++j)
            for (int64_t i = 0; i <= j; ++i) out[i * dim_ + j] = out[j * dim_ + i] = m2_[idx(i, j)];
        return weight_;
    }

    // E[x x^T] = M2 / W + mean mean^T (W > 0), rounded once: hi_i hi_j exactly (an FMA gives its rounding
    // error) plus the small terms, so a mean of 1e15 costs nothing beyond the final rounding. Returns W.
    double second_moment(double* out) const {
        std::lock_guard<std::mutex> lock(mutex_);
        for (int64_t j = 0; j < dim_; ++j)
            for (int64_t i = 0; i <= j; ++i) {
                const double hi = mean_hi_[i], hj = mean_hi_[j], li = mean_lo_[i], lj = mean_lo_[j];
                const double p = hi * hj, e = std::fma(hi, hj, -p);
                const double small = e + (hi * lj + li * hj + li * lj) + m2_[idx(i, j)] / weight_;
                out[i * dim_ + j] = out[j * dim_ + i] = p + small;
            }
        return weight_;
    }

    // One consistent snapshot (pickling): count, weight, mean hi and lo (dim each), full scatter (dim x dim).
    void get_state(int64_t& count, double& weight, double* mean_hi, double* mean_lo, double* scatter) const {
        std::lock_guard<std::mutex> lock(mutex_);
        count = count_;
        weight = weight_;
        std::copy(mean_hi_.begin(), mean_hi_.end(), mean_hi);
        std::copy(mean_lo_.begin(), mean_lo_.end(), mean_lo);
        for (int64_t j = 0; j < dim_; ++j)
            for (int64_t i = 0; i <= j; ++i) scatter[i * dim_ + j] = scatter[j * dim_ + i] = m2_[idx(i, j)];
    }

    // Restores a state read with get_state (pickling); the upper triangle of scatter is read. The mean is
    // renormalised (hi = fl(hi + lo)), which leaves a state from get_state as it was.
    void set_state(int64_t count, double weight, const double* mean_hi, const double* mean_lo, const double* scatter) {
        bool finite = count >= 0 && weight >= 0.0 && std::isfinite(weight);
        for (int64_t j = 0; j < dim_ && finite; ++j) {
            finite = std::isfinite(mean_hi[j]) && std::isfinite(mean_lo[j]);
            for (int64_t i = 0; i <= j && finite; ++i) finite = std::isfinite(scatter[i * dim_ + j]);
        }
        if (!finite) throw std::invalid_argument("invalid accumulator state");
        std::lock_guard<std::mutex> lock(mutex_);
        count_ = count;
        weight_ = weight;
        for (int64_t j = 0; j < dim_; ++j) cov_detail::two_sum(mean_hi[j], mean_lo[j], mean_hi_[j], mean_lo_[j]);
        std::fill(m2_.begin(), m2_.end(), 0.0);
        for (int64_t j = 0; j < dim_; ++j)
            for (int64_t i = 0; i <= j; ++i) m2_[idx(i, j)] = scatter[i * dim_ + j];
    }

private:
    int64_t idx(int64_t i, int64_t j) const { return j * ld_ + i; }

    void copy_state(const CovarianceAccumulator& o) {
        dim_ = o.dim_;
        ld_ = o.ld_;
        count_ = o.count_;
        weight_ = o.weight_;
        mean_hi_ = o.mean_hi_;
        mean_lo_ = o.mean_lo_;
        m2_ = o.m2_;
    }

    // (hi + lo) += v as a double-double: TwoSum, then renormalised so that hi = fl(hi + lo) stays the
    // nearest float64 to the mean (it is the next batch's shift).
    void add_to_mean(int64_t j, double v) {
        double s, e;
        cov_detail::two_sum(mean_hi_[j], v, s, e);
        cov_detail::two_sum(s, e + mean_lo_[j], mean_hi_[j], mean_lo_[j]);
    }

    // Chan's merge of a part with weight Wb and mean (running mean + delta); its M2 is already in m2_, as a
    // scatter around (its mean - offcenter) when offcenter is given (removed here: W_b offcenter offcenter^T).
    void merge_moments(double batch_weight, const std::vector<double>& delta, const double* offcenter = nullptr) {
        const double total = weight_ + batch_weight;
        const double factor = weight_ * batch_weight / total, share = batch_weight / total;
        if (offcenter) {
            for (int64_t j = 0; j < dim_; ++j)
                for (int64_t i = 0; i <= j; ++i)
                    m2_[idx(i, j)] += delta[i] * delta[j] * factor - batch_weight * offcenter[i] * offcenter[j];
        } else {
            for (int64_t j = 0; j < dim_; ++j)
                for (int64_t i = 0; i <= j; ++i) m2_[idx(i, j)] += delta[i] * delta[j] * factor;
        }
        for (int64_t j = 0; j < dim_; ++j) add_to_mean(j, delta[j] * share);
        weight_ = total;
    }

    // sum_k w_k (x_k - shift) / W per column, in float64 with per-block partial sums. A non-finite sum
    // means NaN/inf in the data (or float64 overflow): rejected before any state changes.
    template <class T>
    std::vector<double> weighted_column_offsets(const cov_detail::RowsView<T>& x, const double* weights,
                                                double batch_weight, const std::vector<double>& shift,
                                                int threads) const {
        const int64_t block = cov_detail::kDepth;
        const int64_t n_blocks = (x.rows + block - 1) / block;
        if (static_cast<double>(x.rows) * static_cast<double>(dim_) < 1.0e6) threads = 1;
        threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n_blocks)));
        std::vector<std::vector<double>> partial(static_cast<size_t>(threads),
                                                 std::vector<double>(static_cast<size_t>(dim_), 0.0));
        const int64_t per_thread = (n_blocks + threads - 1) / threads;
        parallel_for(0, threads, threads, [&](int64_t t_lo, int64_t t_hi) {
            std::vector<double> block_sum(static_cast<size_t>(dim_));
            for (int64_t t = t_lo; t < t_hi; ++t) {
                std::vector<double>& sum = partial[static_cast<size_t>(t)];
                const int64_t b_end = std::min(n_blocks, (t + 1) * per_thread);
                for (int64_t b = t * per_thread; b < b_end; ++b) {
                    std::fill(block_sum.begin(), block_sum.end(), 0.0);
                    const int64_t r_end = std::min(x.rows, (b + 1) * block);
                    for (int64_t r = b * block; r < r_end; ++r) {
                        const T* row = x.data + r * x.row_stride;
                        const double w = weights ? weights[r] : 1.0;
                        for (int64_t j = 0; j < dim_; ++j)
                            block_sum[j] += w * (static_cast<double>(row[j * x.col_stride]) - shift[j]);
                    }
                    for (int64_t j = 0; j < dim_; ++j) sum[j] += block_sum[j];
                }
            }
        }, 1);
        std::vector<double> offset(static_cast<size_t>(dim_), 0.0);
        for (const auto& sum : partial)
            for (int64_t j = 0; j < dim_; ++j) offset[j] += sum[j];
        bool finite = true;
        for (int64_t j = 0; j < dim_; ++j) finite = finite && std::isfinite(offset[j]);
        if (!finite) {
            for (int64_t i = 0; i < x.rows; ++i)
                for (int64_t j = 0; j < dim_; ++j)
                    if (!std::isfinite(static_cast<double>(x.at(i, j))))
                        throw std::invalid_argument("X contains NaN or infinity");
            throw std::invalid_argument("X is too large: its column sums overflow float64");
        }
        if (batch_weight > 0.0)
            for (auto& v : offset) v /= batch_weight;
        return offset;
    }

    int64_t dim_ = 0, ld_ = 0;
    int64_t count_ = 0;
    double weight_ = 0.0;
    std::vector<double> mean_hi_, mean_lo_;
    std::vector<double> m2_;  // column-major ld_ x ld_, upper triangle (i <= j) valid
    mutable std::mutex mutex_;
};

}  // namespace netmirror

// Column reductions (correlations A^T v and column statistics), one 32-lane warp per column, and the column
// gather of the device-backed matrix (device_matrix.hpp).
// Lane l sums rows l, l + 32, ... with fused multiply-adds; the 32 partial sums are then combined by the
// xor butterfly of __shfl_xor_sync. warp_butterfly_sum is that butterfly written over an array, so the
// host emulation adds in exactly the kernel's order and the two agree bit for bit.
#pragma once
#include <cmath>
#include <cstdint>

#include "features.cuh"

namespace netmirror {
namespace gpu {

constexpr int kWarp = 32;

// Column k of an index set: idx[k], or k itself when idx is null (every column, in order).
NETMIRROR_HD inline int64_t column_of(const int64_t* idx, int64_t k) { return idx ? idx[k] : k; }

// Gather, one thread per element of the (m x count) column-major float64 output: element e is row e % m of
// column idx[e / m], so consecutive threads write consecutive addresses.
template <class Source>
NETMIRROR_HD inline void gather_element(const Source& src, const int64_t* idx, int64_t m, int64_t e, double* out) {
    const int64_t k = e / m, i = e - k * m;
    out[e] = src(idx[k], i);
}

// sum over lane's rows of (A(i, col) - shift[col]) v[i]; shift null: no shift. Shifting each column by its mean
// inside the sum keeps the digits that A^T v - mean 1^T v cancels for columns far from the origin.
template <class Source>
NETMIRROR_HD inline double lane_dot(const Source& src, int64_t col, int64_t m, const double* v, int lane,
                                    const double* shift = nullptr) {
    double acc = 0.0;
    if (shift) {
        const double s = shift[col];
        for (int64_t i = lane; i < m; i += kWarp) acc = fma(src(col, i) - s, v[i], acc);
        return acc;
    }
    for (int64_t i = lane; i < m; i += kWarp) acc = fma(src(col, i), v[i], acc);
    return acc;
}

template <class Source>
NETMIRROR_HD inline double lane_sum(const Source& src, int64_t col, int64_t m, int lane) {
    double acc = 0.0;
    for (int64_t i = lane; i < m; i += kWarp) acc += src(col, i);
    return acc;
}

template <class Source>
NETMIRROR_HD inline double lane_centered_sq(const Source& src, int64_t col, int64_t m, double mean, int lane) {
    double acc = 0.0;
    for (int64_t i = lane; i < m; i += kWarp) {
        const double d = src(col, i) - mean;
        acc = fma(d, d, acc);
    }
    return acc;
}

// Entries of the column that differ from `first` (as a double, for the same butterfly): a column is constant,
// and absorbed by the intercept, only when none does (netmirror::two_pass_stats' rule).
template <class Source>
NETMIRROR_HD inline double lane_count_differs(const Source& src, int64_t col, int64_t m, double first, int lane) {
    double acc = 0.0;
    for (int64_t i = lane; i < m; i += kWarp) acc += src(col, i) != first ? 1.0 : 0.0;
    return acc;
}

// Host side of the butterfly: after it every entry holds the total (the device code keeps one per lane).
NETMIRROR_HD inline double warp_butterfly_sum(double (&part)[kWarp]) {
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
        double next[kWarp];
        for (int l = 0; l < kWarp; ++l) next[l] = part[l] + part[l ^ offset];
        for (int l = 0; l < kWarp; ++l) part[l] = next[l];
    }
    return part[0];
}

}  // namespace gpu
}  // namespace netmirror

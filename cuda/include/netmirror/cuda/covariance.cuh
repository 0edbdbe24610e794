// Batched covariance on the GPU: float32 or float64 rows, float64 arithmetic throughout.
//
// Pass 1 (column offsets): partial[slice][j] = sum over the slice's rows of w_r (x_rj - shift_j), one thread
// per column (consecutive threads read consecutive columns of C-ordered X), float64 sums.
// Pass 2 (scatter): the upper-triangle 64x64 tiles of M2 += sum_r s_r^2 (x_r - c)(x_r - c)^T, a SYRK-like
// tiling: a block of 256 threads owns one tile and one slice of rows; per chunk of 16 rows it loads the two
// 16x64 panels (x - c) * s as float64 into shared memory (load phase), then every thread adds a 4x4
// micro-tile with fused multiply-adds (compute phase); the tile is added into M2 with atomics (store
// phase). The phases are functions of (block, thread) so that the host emulation runs them over the whole
// grid in the kernel's order, with __syncthreads() between phases becoming loops over the threads.
#pragma once
#include <cmath>
#include <cstdint>

#include <netmirror/activation.hpp>  // NETMIRROR_HD

namespace netmirror {
namespace gpu {

constexpr int kCovTile = 64;     // output tile edge
constexpr int kCovChunk = 16;    // rows per shared-memory panel
constexpr int kCovThreads = 256; // 16 x 16 threads, each a 4x4 micro-tile (rows ty + 16a, columns tx + 16b)
constexpr int kCovMicro = kCovTile / 16;

template <class T>
struct StridedRows {  // element (r, j) at data[r * row_stride + j * col_stride] (strides in elements)
    const T* data = nullptr;
    int64_t rows = 0, cols = 0, row_stride = 0, col_stride = 0;
    NETMIRROR_HD double at(int64_t r, int64_t j) const {
        return static_cast<double>(data[r * row_stride + j * col_stride]);
    }
};

// ---- pass 1 ---------------------------------------------------------------------------------------------
template <class T>
NETMIRROR_HD inline double column_offset_partial(const StridedRows<T>& x, const double* shift, const double* weights,
                                                 int64_t row0, int64_t row1, int64_t j) {
    double acc = 0.0;
    for (int64_t r = row0; r < row1; ++r) {
        const double d = x.at(r, j) - shift[j];
        acc = weights ? fma(weights[r], d, acc) : acc + d;
    }
    return acc;
}

// ---- pass 2 ---------------------------------------------------------------------------------------------
struct CovShared {
    double a[kCovChunk][kCovTile];  // rows of the chunk, columns of tile row bi
    double b[kCovChunk][kCovTile];  // rows of the chunk, columns of tile column bj
};

// Upper-triangle tile (bi <= bj) of linear index q, column by column: q = bj (bj + 1) / 2 + bi.
NETMIRROR_HD inline void upper_tile(int64_t q, int64_t& bi, int64_t& bj) {
    int64_t j = static_cast<int64_t>((sqrt(8.0 * static_cast<double>(q) + 1.0) - 1.0) / 2.0);
    while (j * (j + 1) / 2 > q) --j;          // the square root may round either way
    while ((j + 1) * (j + 2) / 2 <= q) ++j;
    bj = j;
    bi = q - j * (j + 1) / 2;
}

template <class T>
NETMIRROR_HD inline void cov_load(const StridedRows<T>& x, const double* center, const double* row_scale, int64_t bi,
                                  int64_t bj, int64_t r0, int64_t row_end, int tid, CovShared& sh) {
    for (int e = tid; e < kCovChunk * kCovTile; e += kCovThreads) {
        const int rr = e / kCovTile, cc = e % kCovTile;
        const int64_t r = r0 + rr;
        const int64_t ja = bi * kCovTile + cc, jb = bj * kCovTile + cc;
        double va = 0.0, vb = 0.0;
        if (r < row_end) {
            const double s = row_scale ? row_scale[r] : 1.0;
            if (ja < x.cols) va = (x.at(r, ja) - center[ja]) * s;
            if (jb < x.cols) vb = (x.at(r, jb) - center[jb]) * s;
        }
        sh.a[rr][cc] = va;
        sh.b[rr][cc] = vb;
    }
}

NETMIRROR_HD inline void cov_compute(const CovShared& sh, int tid, double (&acc)[kCovMicro][kCovMicro]) {
    const int tx = tid % 16, ty = tid / 16;
    for (int k = 0; k < kCovChunk; ++k) {
        double av[kCovMicro], bv[kCovMicro];
        for (int u = 0; u < kCovMicro; ++u) av[u] = sh.a[k][ty + 16 * u];
        for (int u = 0; u < kCovMicro; ++u) bv[u] = sh.b[k][tx + 16 * u];
        for (int p = 0; p < kCovMicro; ++p)
            for (int q = 0; q < kCovMicro; ++q) acc[p][q] = fma(av[p], bv[q], acc[p][q]);
    }
}

// out is dim x dim row-major; entries (i, j) with i <= j receive the tile's sums.
NETMIRROR_HD inline void cov_store(const double (&acc)[kCovMicro][kCovMicro], int64_t bi, int64_t bj, int64_t dim,
                                   int tid, double* out) {
    const int tx = tid % 16, ty = tid / 16;
    for (int p = 0; p < kCovMicro; ++p)
        for (int q = 0; q < kCovMicro; ++q) {
            const int64_t i = bi * kCovTile + ty + 16 * p, j = bj * kCovTile + tx + 16 * q;
            if (i < dim && j < dim && i <= j) {
#if defined(__CUDA_ARCH__)
                atomicAdd(out + i * dim + j, acc[p][q]);
#else
                out[i * dim + j] += acc[p][q];
#endif
            }
        }
}

// Rows of each slice: a multiple of the chunk.
NETMIRROR_HD inline int64_t cov_slice_rows(int64_t rows, int64_t slices) {
    const int64_t per = (rows + slices - 1) / slices;
    return (per + kCovChunk - 1) / kCovChunk * kCovChunk;
}

}  // namespace gpu
}  // namespace netmirror

// Host emulation of the CUDA kernels: the per-thread functions of cuda/include/netmirror/cuda run over the
// whole grid on the CPU, in the kernels' order (warp butterflies, shared-memory phases, atomics as plain adds
// in block order). The tests compare these with the NumPy reference on machines without a GPU; on a GPU the
// same tests compare the kernels themselves.
#include <netmirror/cuda/launch.hpp>
#include <netmirror/cuda/reduce.cuh>

#include <algorithm>
#include <vector>

namespace netmirror {
namespace gpu {
namespace emulate {
namespace {

template <class Source>
void correlation_grid(const Source& src, int64_t m, int64_t cols, const double* v, const double* shift, double* out,
                      const int64_t* idx) {
    for (int64_t col = 0; col < cols; ++col) {
        double part[kWarp];
        for (int lane = 0; lane < kWarp; ++lane) part[lane] = lane_dot(src, column_of(idx, col), m, v, lane, shift);
        out[col] = warp_butterfly_sum(part);
    }
}

template <class Source>
void gather_grid(const Source& src, int64_t m, const int64_t* idx, int64_t count, double* out) {
    const int64_t total = m * count;
    for (int64_t e = 0; e < total; ++e) gather_element(src, idx, m, e, out);
}

template <class Source>
void stats_grid(const Source& src, int64_t m, int64_t cols, double* mean, double* csq) {
    for (int64_t col = 0; col < cols; ++col) {
        double part[kWarp];
        for (int lane = 0; lane < kWarp; ++lane) part[lane] = lane_sum(src, col, m, lane);
        const double mu = warp_butterfly_sum(part) / static_cast<double>(m);
        for (int lane = 0; lane < kWarp; ++lane) part[lane] = lane_centered_sq(src, col, m, mu, lane);
        const double q = warp_butterfly_sum(part);
        const double first = src(col, 0);
        for (int lane = 0; lane < kWarp; ++lane) part[lane] = lane_count_differs(src, col, m, first, lane);
        const bool constant = warp_butterfly_sum(part) == 0.0;
        mean[col] = constant ? first : mu;
        csq[col] = constant ? 0.0 : q;
    }
}

template <class T>
void offsets_grid(const StridedRows<T>& x, const double* shift, const double* weights, int64_t slices,
                  double* partial) {
    const int64_t slice_rows = cov_slice_rows(x.rows, slices);
    for (int64_t slice = 0; slice < slices; ++slice) {
        const int64_t r0 = slice * slice_rows, r1 = std::min(x.rows, r0 + slice_rows);
        for (int64_t j = 0; j < x.cols; ++j)
            partial[slice * x.cols + j] = r0 < r1 ? column_offset_partial(x, shift, weights, r0, r1, j) : 0.0;
    }
}

template <class T>
void scatter_grid(const StridedRows<T>& x, const double* center, const double* row_scale, int64_t slices, double* out) {
    const int64_t slice_rows = cov_slice_rows(x.rows, slices);
    const int64_t t = (x.cols + kCovTile - 1) / kCovTile, tiles = t * (t + 1) / 2;
    struct MicroTile {
        double v[kCovMicro][kCovMicro];
    };
    CovShared sh;
    std::vector<MicroTile> acc(static_cast<size_t>(kCovThreads));  // the threads' registers
    auto acc_of = [&](int tid) -> double(&)[kCovMicro][kCovMicro] { return acc[static_cast<size_t>(tid)].v; };
    for (int64_t slice = 0; slice < slices; ++slice)
        for (int64_t q = 0; q < tiles; ++q) {
            int64_t bi, bj;
            upper_tile(q, bi, bj);
            std::fill(acc.begin(), acc.end(), MicroTile{});
            const int64_t r_begin = slice * slice_rows, r_end = std::min(x.rows, r_begin + slice_rows);
            for (int64_t r0 = r_begin; r0 < r_end; r0 += kCovChunk) {
                for (int tid = 0; tid < kCovThreads; ++tid) cov_load(x, center, row_scale, bi, bj, r0, r_end, tid, sh);
                for (int tid = 0; tid < kCovThreads; ++tid) cov_compute(sh, tid, acc_of(tid));
            }
            for (int tid = 0; tid < kCovThreads; ++tid) cov_store(acc_of(tid), bi, bj, x.cols, tid, out);
        }
}

}  // namespace

void assemble(const LibraryColumns& lib, int64_t cols, void* out, bool out_float32) {
    const int64_t total = lib.m * cols;
    for (int64_t e = 0; e < total; ++e) {
        if (out_float32)
            assemble_element(lib, e, static_cast<float*>(out));
        else
            assemble_element(lib, e, static_cast<double*>(out));
    }
}

void correlation_library(const LibraryColumns& lib, int64_t cols, const double* v, const double* shift, double* out,
                         const int64_t* idx) {
    correlation_grid(LibrarySource{lib}, lib.m, cols, v, shift, out, idx);
}

void correlation_dense(const DenseArg& a, int64_t cols, const double* v, const double* shift, double* out,
                       const int64_t* idx) {
    with_dense(a, [&](const auto& src) { correlation_grid(src, a.m, cols, v, shift, out, idx); });
}

void gather_library(const LibraryColumns& lib, const int64_t* idx, int64_t count, double* out) {
    gather_grid(LibrarySource{lib}, lib.m, idx, count, out);
}

void gather_dense(const DenseArg& a, const int64_t* idx, int64_t count, double* out) {
    with_dense(a, [&](const auto& src) { gather_grid(src, a.m, idx, count, out); });
}

void column_stats_library(const LibraryColumns& lib, int64_t cols, double* mean, double* centered_sq) {
    stats_grid(LibrarySource{lib}, lib.m, cols, mean, centered_sq);
}

void column_stats_dense(const DenseArg& a, int64_t cols, double* mean, double* centered_sq) {
    with_dense(a, [&](const auto& src) { stats_grid(src, a.m, cols, mean, centered_sq); });
}

void covariance_offsets(const RowsArg& x, const double* shift, const double* weights, int64_t slices, double* partial) {
    with_rows(x, [&](const auto& rows) { offsets_grid(rows, shift, weights, slices, partial); });
}

void covariance_scatter(const RowsArg& x, const double* center, const double* row_scale, int64_t slices, double* out) {
    with_rows(x, [&](const auto& rows) { scatter_grid(rows, center, row_scale, slices, out); });
}

}  // namespace emulate
}  // namespace gpu
}  // namespace netmirror

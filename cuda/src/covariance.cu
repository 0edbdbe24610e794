// Batched covariance kernels (per-thread arithmetic in cuda/include/netmirror/cuda/covariance.cuh, shared
// with the host emulation).
#include <netmirror/cuda/launch.hpp>

#include "cuda_check.cuh"

namespace netmirror {
namespace gpu {
namespace {

template <class T>
__global__ void offsets_kernel(StridedRows<T> x, const double* shift, const double* weights, int64_t slice_rows,
                               double* partial) {
    const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t slice = blockIdx.y;
    if (j >= x.cols) return;
    const int64_t r0 = slice * slice_rows, r1 = r0 + slice_rows < x.rows ? r0 + slice_rows : x.rows;
    partial[slice * x.cols + j] = r0 < r1 ? column_offset_partial(x, shift, weights, r0, r1, j) : 0.0;
}

template <class T>
__global__ void __launch_bounds__(kCovThreads)
    scatter_kernel(StridedRows<T> x, const double* center, const double* row_scale, int64_t slice_rows, double* out) {
    __shared__ CovShared sh;
    int64_t bi, bj;
    upper_tile(blockIdx.x, bi, bj);
    const int tid = threadIdx.x;
    const int64_t r_begin = static_cast<int64_t>(blockIdx.y) * slice_rows;
    const int64_t r_end = r_begin + slice_rows < x.rows ? r_begin + slice_rows : x.rows;
    double acc[kCovMicro][kCovMicro] = {};
    for (int64_t r0 = r_begin; r0 < r_end; r0 += kCovChunk) {
        cov_load(x, center, row_scale, bi, bj, r0, r_end, tid, sh);
        __syncthreads();
        cov_compute(sh, tid, acc);
        __syncthreads();
    }
    cov_store(acc, bi, bj, x.cols, tid, out);
}

int64_t tile_count(int64_t dim) {
    const int64_t t = (dim + kCovTile - 1) / kCovTile;
    return t * (t + 1) / 2;
}

}  // namespace

void covariance_offsets(const RowsArg& x, const double* shift, const double* weights, int64_t slices, double* partial,
                        int device, uintptr_t stream) {
    if (x.rows <= 0 || x.cols <= 0) return;
    DeviceGuard guard(device);
    const dim3 grid(static_cast<unsigned>((x.cols + 255) / 256), static_cast<unsigned>(slices));
    const int64_t slice_rows = cov_slice_rows(x.rows, slices);
    with_rows(x, [&](const auto& rows) {
        offsets_kernel<<<grid, 256, 0, as_stream(stream)>>>(rows, shift, weights, slice_rows, partial);
    });
    check(cudaGetLastError(), "covariance offsets kernel launch");
}

void covariance_scatter(const RowsArg& x, const double* center, const double* row_scale, int64_t slices, double* out,
                        int device, uintptr_t stream) {
    if (x.rows <= 0 || x.cols <= 0) return;
    DeviceGuard guard(device);
    const dim3 grid(static_cast<unsigned>(tile_count(x.cols)), static_cast<unsigned>(slices));
    const int64_t slice_rows = cov_slice_rows(x.rows, slices);
    with_rows(x, [&](const auto& rows) {
        scatter_kernel<<<grid, kCovThreads, 0, as_stream(stream)>>>(rows, center, row_scale, slice_rows, out);
    });
    check(cudaGetLastError(), "covariance scatter kernel launch");
}

}  // namespace gpu
}  // namespace netmirror

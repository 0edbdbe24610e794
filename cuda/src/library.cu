// Library assembly, correlations A^T v, column statistics and column gathers on the GPU (per-thread arithmetic
// in cuda/include/netmirror/cuda/{features,reduce}.cuh, shared with the host emulation), and the device memory
// of the device-backed matrix (device_matrix.hpp).
#include <netmirror/cuda/launch.hpp>
#include <netmirror/cuda/reduce.cuh>

#include "cuda_check.cuh"

namespace netmirror {
namespace gpu {
namespace {

constexpr int kBlock = 256;
constexpr int kWarpsPerBlock = kBlock / kWarp;

template <class T>
__global__ void assemble_kernel(LibraryColumns lib, int64_t total, T* out) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride)
        assemble_element(lib, e, out);
}

__device__ inline double warp_sum(double v) {
    for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// One warp per column, grid-stride over columns: all lanes of a warp share the column, so they run the same
// loop trips and the full-mask shuffles are safe.
__device__ inline int64_t first_column() {
    return static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
}
__device__ inline int64_t column_stride() { return static_cast<int64_t>(gridDim.x) * kWarpsPerBlock; }

template <class Source>
__global__ void correlation_kernel(Source src, int64_t m, int64_t cols, const double* v, const double* shift,
                                   double* out, const int64_t* idx) {
    const int lane = threadIdx.x % kWarp;
    for (int64_t col = first_column(); col < cols; col += column_stride()) {
        const double s = warp_sum(lane_dot(src, column_of(idx, col), m, v, lane, shift));
        if (lane == 0) out[col] = s;
    }
}

template <class Source>
__global__ void gather_kernel(Source src, int64_t m, const int64_t* idx, int64_t total, double* out) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride)
        gather_element(src, idx, m, e, out);
}

template <class Source>
__global__ void column_stats_kernel(Source src, int64_t m, int64_t cols, double* mean, double* centered_sq) {
    const int lane = threadIdx.x % kWarp;
    for (int64_t col = first_column(); col < cols; col += column_stride()) {
        const double first = src(col, 0);
        const double mu = warp_sum(lane_sum(src, col, m, lane)) / static_cast<double>(m);
        const double q = warp_sum(lane_centered_sq(src, col, m, mu, lane));
        const double differs = warp_sum(lane_count_differs(src, col, m, first, lane));
        if (lane == 0) {
            mean[col] = differs == 0.0 ? first : mu;
            centered_sq[col] = differs == 0.0 ? 0.0 : q;
        }
    }
}

void check_launch(const char* what) { check(cudaGetLastError(), what); }

template <class Source>
void launch_correlation(const Source& src, int64_t m, int64_t cols, const double* v, const double* shift,
                        double* out, int device, uintptr_t stream, const int64_t* idx) {
    if (cols <= 0) return;
    DeviceGuard guard(device);
    correlation_kernel<<<grid_for(cols, kWarpsPerBlock), kBlock, 0, as_stream(stream)>>>(src, m, cols, v, shift, out,
                                                                                         idx);
    check_launch("correlation kernel launch");
}

template <class Source>
void launch_gather(const Source& src, int64_t m, const int64_t* idx, int64_t count, double* out, int device,
                   uintptr_t stream) {
    const int64_t total = m * count;
    if (total <= 0) return;
    DeviceGuard guard(device);
    gather_kernel<<<grid_for(total, kBlock), kBlock, 0, as_stream(stream)>>>(src, m, idx, total, out);
    check_launch("gather kernel launch");
}

template <class Source>
void launch_stats(const Source& src, int64_t m, int64_t cols, double* mean, double* csq, int device, uintptr_t stream) {
    if (cols <= 0) return;
    DeviceGuard guard(device);
    column_stats_kernel<<<grid_for(cols, kWarpsPerBlock), kBlock, 0, as_stream(stream)>>>(src, m, cols, mean, csq);
    check_launch("column statistics kernel launch");
}

}  // namespace

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver / no device" error
        return 0;
    }
    return n;
}

std::string device_name(int device) {
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    return prop.name;
}

int runtime_version() {
    int v = 0;
    cudaRuntimeGetVersion(&v);
    return v;
}

void assemble(const LibraryColumns& lib, int64_t cols, void* out, bool out_float32, int device, uintptr_t stream) {
    const int64_t total = lib.m * cols;
    if (total <= 0) return;
    DeviceGuard guard(device);
    const unsigned grid = grid_for(total, kBlock);
    if (out_float32)
        assemble_kernel<<<grid, kBlock, 0, as_stream(stream)>>>(lib, total, static_cast<float*>(out));
    else
        assemble_kernel<<<grid, kBlock, 0, as_stream(stream)>>>(lib, total, static_cast<double*>(out));
    check_launch("assembly kernel launch");
}

void correlation_library(const LibraryColumns& lib, int64_t cols, const double* v, const double* shift, double* out,
                         int device, uintptr_t stream, const int64_t* idx) {
    launch_correlation(LibrarySource{lib}, lib.m, cols, v, shift, out, device, stream, idx);
}

void correlation_dense(const DenseArg& a, int64_t cols, const double* v, const double* shift, double* out, int device,
                       uintptr_t stream, const int64_t* idx) {
    with_dense(a, [&](const auto& src) { launch_correlation(src, a.m, cols, v, shift, out, device, stream, idx); });
}

void gather_library(const LibraryColumns& lib, const int64_t* idx, int64_t count, double* out, int device,
                    uintptr_t stream) {
    launch_gather(LibrarySource{lib}, lib.m, idx, count, out, device, stream);
}

void gather_dense(const DenseArg& a, const int64_t* idx, int64_t count, double* out, int device, uintptr_t stream) {
    with_dense(a, [&](const auto& src) { launch_gather(src, a.m, idx, count, out, device, stream); });
}

void column_stats_library(const LibraryColumns& lib, int64_t cols, double* mean, double* centered_sq, int device,
                          uintptr_t stream) {
    launch_stats(LibrarySource{lib}, lib.m, cols, mean, centered_sq, device, stream);
}

void column_stats_dense(const DenseArg& a, int64_t cols, double* mean, double* centered_sq, int device,
                        uintptr_t stream) {
    with_dense(a, [&](const auto& src) { launch_stats(src, a.m, cols, mean, centered_sq, device, stream); });
}

void* device_alloc(size_t bytes, int device) {
    if (bytes == 0) return nullptr;
    DeviceGuard guard(device);
    void* p = nullptr;
    check(cudaMalloc(&p, bytes), "cudaMalloc");
    return p;
}

void device_free(void* p, int device) noexcept {
    if (!p) return;
    int previous = 0;
    if (cudaGetDevice(&previous) != cudaSuccess) previous = device;
    if (previous != device) cudaSetDevice(device);
    cudaFree(p);
    if (previous != device) cudaSetDevice(previous);
}

void copy_to_device(void* dst, const void* src, size_t bytes, int device, uintptr_t stream) {
    if (bytes == 0) return;
    DeviceGuard guard(device);
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, as_stream(stream)), "cudaMemcpyAsync to the device");
}

void copy_to_host(void* dst, const void* src, size_t bytes, int device, uintptr_t stream) {
    if (bytes == 0) return;
    DeviceGuard guard(device);
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, as_stream(stream)), "cudaMemcpyAsync to the host");
    check(cudaStreamSynchronize(as_stream(stream)), "cudaStreamSynchronize");
}

}  // namespace gpu
}  // namespace netmirror

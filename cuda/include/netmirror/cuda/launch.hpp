// Host entry points of the CUDA kernels (defined in cuda/src/*.cu) and of their host emulation
// (cuda/src/emulate.cpp: the same per-thread functions run over the whole grid on the CPU).
// Pointers are device pointers for the launchers and host pointers for the emulation; outputs are
// allocated by the caller (CuPy / NumPy). `stream` is a cudaStream_t passed as an integer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "covariance.cuh"
#include "features.cuh"

namespace netmirror {
namespace gpu {

struct DenseArg {
    const void* a = nullptr;
    bool float32 = false;
    int64_t m = 0, ld = 0;  // rows and leading dimension (column stride, elements)
};

struct RowsArg {  // (rows x cols) with element strides, float32 or float64
    const void* data = nullptr;
    bool float32 = false;
    int64_t rows = 0, cols = 0, row_stride = 0, col_stride = 0;
};

// fn(source) with the typed column source / row view of a float32 or float64 argument.
template <class Fn>
void with_dense(const DenseArg& a, Fn&& fn) {
    if (a.float32)
        fn(DenseColumns<float>{static_cast<const float*>(a.a), a.m, a.ld});
    else
        fn(DenseColumns<double>{static_cast<const double*>(a.a), a.m, a.ld});
}
template <class Fn>
void with_rows(const RowsArg& x, Fn&& fn) {
    if (x.float32)
        fn(StridedRows<float>{static_cast<const float*>(x.data), x.rows, x.cols, x.row_stride, x.col_stride});
    else
        fn(StridedRows<double>{static_cast<const double*>(x.data), x.rows, x.cols, x.row_stride, x.col_stride});
}

// Devices and the runtime; 0 devices when no driver or no GPU is present (never throws).
int device_count();
std::string device_name(int device);
int runtime_version();

void assemble(const LibraryColumns& lib, int64_t cols, void* out, bool out_float32, int device, uintptr_t stream);
// shift: null, or one value per column subtracted from it inside the sums (the column means).
// idx: null (columns 0 .. cols - 1), or `cols` column indices: out[k] is column idx[k]'s (shift[idx[k]]).
void correlation_library(const LibraryColumns& lib, int64_t cols, const double* v, const double* shift, double* out,
                         int device, uintptr_t stream, const int64_t* idx = nullptr);
void correlation_dense(const DenseArg& a, int64_t cols, const double* v, const double* shift, double* out, int device,
                       uintptr_t stream, const int64_t* idx = nullptr);
// Columns idx[0 .. count) as float64 into the (m x count) column-major out.
void gather_library(const LibraryColumns& lib, const int64_t* idx, int64_t count, double* out, int device,
                    uintptr_t stream);
void gather_dense(const DenseArg& a, const int64_t* idx, int64_t count, double* out, int device, uintptr_t stream);
void column_stats_library(const LibraryColumns& lib, int64_t cols, double* mean, double* centered_sq, int device,
                          uintptr_t stream);
void column_stats_dense(const DenseArg& a, int64_t cols, double* mean, double* centered_sq, int device,
                        uintptr_t stream);
void covariance_offsets(const RowsArg& x, const double* shift, const double* weights, int64_t slices, double* partial,
                        int device, uintptr_t stream);
void covariance_scatter(const RowsArg& x, const double* center, const double* row_scale, int64_t slices, double* out,
                        int device, uintptr_t stream);

// Device memory and copies of the device-backed matrix (device_matrix.hpp). copy_to_host waits for the stream.
void* device_alloc(size_t bytes, int device);
void device_free(void* p, int device) noexcept;
void copy_to_device(void* dst, const void* src, size_t bytes, int device, uintptr_t stream);
void copy_to_host(void* dst, const void* src, size_t bytes, int device, uintptr_t stream);

namespace emulate {
void assemble(const LibraryColumns& lib, int64_t cols, void* out, bool out_float32);
void correlation_library(const LibraryColumns& lib, int64_t cols, const double* v, const double* shift, double* out,
                         const int64_t* idx = nullptr);
void correlation_dense(const DenseArg& a, int64_t cols, const double* v, const double* shift, double* out,
                       const int64_t* idx = nullptr);
void gather_library(const LibraryColumns& lib, const int64_t* idx, int64_t count, double* out);
void gather_dense(const DenseArg& a, const int64_t* idx, int64_t count, double* out);
void column_stats_library(const LibraryColumns& lib, int64_t cols, double* mean, double* centered_sq);
void column_stats_dense(const DenseArg& a, int64_t cols, double* mean, double* centered_sq);
void covariance_offsets(const RowsArg& x, const double* shift, const double* weights, int64_t slices, double* partial);
void covariance_scatter(const RowsArg& x, const double* center, const double* row_scale, int64_t slices, double* out);
}  // namespace emulate

}  // namespace gpu
}  // namespace netmirror

// A DesignMatrix whose columns live on a GPU: a dense float32/float64 Fortran array, or a library's packed
// columns evaluated on the fly (matrix-free). The C++ LassoSolver (netmirror/lasso.hpp) runs over it unchanged,
// with the working-set driver and the certificate of the CPU solves: every batch hook is one kernel launch and
// one transfer (the correlations of the full pass, the column statistics, the working set's columns), the
// coordinate descent and the exact finish run on the host on the gathered columns.
//
// Emulated: the pointers are host pointers, the kernels their host emulation (cuda/src/emulate.cpp) and the
// copies memcpy, so that the same code path runs, and is tested, without a GPU.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include <netmirror/matrix.hpp>

#include "launch.hpp"

namespace netmirror {
namespace gpu {

// Where a device matrix runs: the device and stream of its arrays, or the host emulation.
struct Where {
    bool emulated = false;
    int device = 0;
    uintptr_t stream = 0;
};

class DeviceMatrix final : public DesignMatrix {
public:
    DeviceMatrix(const DenseArg& a, int64_t cols, const Where& where)
        : dense_(a), library_(false), rows_(a.m), cols_(cols), where_(where) {}
    DeviceMatrix(const LibraryColumns& lib, int64_t cols, const Where& where)
        : lib_(lib), library_(true), rows_(lib.m), cols_(cols), where_(where) {}
    DeviceMatrix(const DeviceMatrix&) = delete;
    DeviceMatrix& operator=(const DeviceMatrix&) = delete;

    int64_t rows() const override { return rows_; }
    int64_t cols() const override { return cols_; }

    void tmul(const double* v, const int64_t* idx, int64_t count, double* out) const override {
        tmul_batch(v, idx, count, nullptr, out, 1);
    }
    void tmul_shifted(const double* v, const int64_t* idx, int64_t count, const double* shift,
                      double* out) const override {
        tmul_batch(v, idx, count, shift, out, 1);
    }
    void column(int64_t j, double* out) const override { columns(&j, 1, out); }
    // A single column's statistics (unused by the Lasso) come from its entries by two_pass_stats, the
    // DesignMatrix default; all_column_stats is the kernel's.

    // One launch over the index set (none uploaded when it is 0, 1, ..., count - 1), one copy back.
    void tmul_batch(const double* v, const int64_t* idx, int64_t count, const double* shift, double* out,
                    int) const override {
        if (count <= 0) return;
        std::lock_guard<std::mutex> lock(mutex_);
        const double* dv = put(v_, v, rows_);
        const double* dshift = shift ? put(shift_, shift, cols_) : nullptr;
        bool prefix = true;
        for (int64_t k = 0; k < count && prefix; ++k) prefix = idx[k] == k;
        const int64_t* didx = prefix ? nullptr : put(idx_, idx, count);
        double* dout = out_.reserve<double>(count, where_);
        if (library_) {
            if (where_.emulated) emulate::correlation_library(lib_, count, dv, dshift, dout, didx);
            else correlation_library(lib_, count, dv, dshift, dout, where_.device, where_.stream, didx);
        } else {
            if (where_.emulated) emulate::correlation_dense(dense_, count, dv, dshift, dout, didx);
            else correlation_dense(dense_, count, dv, dshift, dout, where_.device, where_.stream, didx);
        }
        get(out, dout, count);
    }

    void all_column_stats(double* mean, double* centered_sq, int) const override {
        if (cols_ <= 0) return;
        std::lock_guard<std::mutex> lock(mutex_);
        double* dmean = out_.reserve<double>(cols_, where_);
        double* dcsq = shift_.reserve<double>(cols_, where_);
        if (library_) {
            if (where_.emulated) emulate::column_stats_library(lib_, cols_, dmean, dcsq);
            else column_stats_library(lib_, cols_, dmean, dcsq, where_.device, where_.stream);
        } else {
            if (where_.emulated) emulate::column_stats_dense(dense_, cols_, dmean, dcsq);
            else column_stats_dense(dense_, cols_, dmean, dcsq, where_.device, where_.stream);
        }
        get(mean, dmean, cols_);
        get(centered_sq, dcsq, cols_);
    }

    void columns(const int64_t* idx, int64_t count, double* out) const override {
        if (count <= 0) return;
        std::lock_guard<std::mutex> lock(mutex_);
        const int64_t* didx = put(idx_, idx, count);
        double* dout = gather_.reserve<double>(rows_ * count, where_);
        if (library_) {
            if (where_.emulated) emulate::gather_library(lib_, didx, count, dout);
            else gather_library(lib_, didx, count, dout, where_.device, where_.stream);
        } else {
            if (where_.emulated) emulate::gather_dense(dense_, didx, count, dout);
            else gather_dense(dense_, didx, count, dout, where_.device, where_.stream);
        }
        get(out, dout, rows_ * count);
    }

private:
    // Device (or, emulated, host) scratch that only grows; freed with the matrix.
    class Buffer {
    public:
        Buffer() = default;
        Buffer(const Buffer&) = delete;
        Buffer& operator=(const Buffer&) = delete;
        ~Buffer() { release(); }
        template <class T>
        T* reserve(int64_t count, const Where& where) {
            const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T);
            if (bytes > bytes_) {
                release();
                where_ = where;
                p_ = where.emulated ? std::malloc(bytes) : device_alloc(bytes, where.device);
                if (!p_) throw std::bad_alloc();
                bytes_ = bytes;
            }
            return static_cast<T*>(p_);
        }

    private:
        void release() noexcept {
            if (!p_) return;
            if (where_.emulated) std::free(p_);
            else device_free(p_, where_.device);
            p_ = nullptr;
            bytes_ = 0;
        }
        void* p_ = nullptr;
        size_t bytes_ = 0;
        Where where_;
    };

    template <class T>
    const T* put(Buffer& buf, const T* host, int64_t count) const {
        T* dst = buf.reserve<T>(count, where_);
        const size_t bytes = static_cast<size_t>(count) * sizeof(T);
        if (where_.emulated) std::memcpy(dst, host, bytes);
        else copy_to_device(dst, host, bytes, where_.device, where_.stream);
        return dst;
    }

    void get(double* host, const double* src, int64_t count) const {
        const size_t bytes = static_cast<size_t>(count) * sizeof(double);
        if (where_.emulated) std::memcpy(host, src, bytes);
        else copy_to_host(host, src, bytes, where_.device, where_.stream);
    }

    DenseArg dense_;
    LibraryColumns lib_;
    bool library_;
    int64_t rows_, cols_;
    Where where_;
    mutable std::mutex mutex_;  // one launch at a time: the scratch buffers are shared
    mutable Buffer v_, shift_, idx_, out_, gather_;
};

}  // namespace gpu
}  // namespace netmirror

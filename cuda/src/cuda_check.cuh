// Error checks and the device guard of the launchers.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace netmirror {
namespace gpu {

inline void check(cudaError_t err, const char* what) {
    if (err != cudaSuccess) throw std::runtime_error(std::string("netmirror CUDA: ") + what + ": " + cudaGetErrorString(err));
}

// Launches go to the device that holds the arrays; the caller's current device is restored.
class DeviceGuard {
public:
    explicit DeviceGuard(int device) {
        check(cudaGetDevice(&previous_), "cudaGetDevice");
        if (previous_ != device) check(cudaSetDevice(device), "cudaSetDevice");
    }
    ~DeviceGuard() {
        int now = previous_;
        if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
    }
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;

private:
    int previous_ = 0;
};

inline cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

// Grid-stride launches: enough blocks to fill any current GPU, never more than the work needs.
inline unsigned grid_for(int64_t work_items, int64_t per_block) {
    const int64_t blocks = (work_items + per_block - 1) / per_block;
    const int64_t cap = int64_t(1) << 20;
    return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

}  // namespace gpu
}  // namespace netmirror

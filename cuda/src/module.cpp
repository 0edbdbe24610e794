// netmirror._cuda: launchers of the CUDA kernels, their host emulation, the host-side packing of library
// columns and the Lasso over a device-backed matrix (the C++ LassoSolver, device_matrix.hpp). Arrays cross as
// raw pointers (integers): netmirror/cuda.py allocates and validates them (CuPy on the device, NumPy for the
// emulation) and keeps them alive during the call.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <netmirror/cuda/device_matrix.hpp>
#include <netmirror/cuda/launch.hpp>
#include <netmirror/lasso.hpp>
#include <netmirror/libraries.hpp>
#include <netmirror/parallel.hpp>

#include "bindings/common.hpp"  // the Lasso options, warm start, result dict and Ctrl-C watcher of netmirror._core

namespace py = pybind11;
namespace gpu = netmirror::gpu;

namespace {

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using P = uintptr_t;  // a device or host pointer passed as an integer
using Release = py::call_guard<py::gil_scoped_release>;
using IndexArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

template <class P>
P* ptr(uintptr_t p) {
    return reinterpret_cast<P*>(p);
}

// (kind, activation, slope, layers, params, offsets, thresholds, t, m) as built by netmirror/cuda.py.
gpu::LibraryColumns library_columns(const py::tuple& a) {
    if (a.size() != 9) throw std::invalid_argument("library columns: expected a 9-tuple");
    gpu::LibraryColumns L;
    L.kind = a[0].cast<int>();
    L.activation = a[1].cast<int>();
    L.slope = a[2].cast<double>();
    L.layers = a[3].cast<int>();
    L.params = ptr<const double>(a[4].cast<uintptr_t>());
    L.offsets = ptr<const int64_t>(a[5].cast<uintptr_t>());
    L.thresholds = ptr<const double>(a[6].cast<uintptr_t>());
    L.t = ptr<const double>(a[7].cast<uintptr_t>());
    L.m = a[8].cast<int64_t>();
    return L;
}

gpu::DenseArg dense(uintptr_t a, bool float32, int64_t m, int64_t ld) {
    return gpu::DenseArg{ptr<const void>(a), float32, m, ld};
}

gpu::RowsArg rows(uintptr_t x, bool float32, int64_t n, int64_t dim, int64_t row_stride, int64_t col_stride) {
    return gpu::RowsArg{ptr<const void>(x), float32, n, dim, row_stride, col_stride};
}

// Decodes the kept features once into parameter rows (cuda/include/netmirror/cuda/features.cuh).
py::tuple pack_library(DoubleArray x, int activation, int architecture, int depth, double slope, int64_t switches,
                       py::object raw_obj) {
    netmirror::FamilySpec spec;
    spec.activation = static_cast<netmirror::Activation>(activation);
    spec.architecture = static_cast<netmirror::Architecture>(architecture);
    spec.depth = depth;
    spec.slope = slope;
    spec.switches = switches;
    spec.input_dim = x.ndim() == 2 ? static_cast<int>(x.shape(1)) : 1;
    const int64_t n = x.ndim() == 2 ? x.shape(0) : x.size();
    const netmirror::Family family(x.data(), n, spec);
    IndexArray raw;
    const bool all = raw_obj.is_none();
    if (!all) raw = raw_obj.cast<IndexArray>();
    const int64_t cols = all ? family.size() : raw.size();
    const int64_t* rp = all ? nullptr : raw.data();
    py::array_t<double> params({static_cast<py::ssize_t>(cols), static_cast<py::ssize_t>(gpu::kParams)});
    py::array_t<int64_t> offsets(static_cast<py::ssize_t>(cols + 1));
    double* P = params.mutable_data();
    int64_t* off = offsets.mutable_data();
    std::fill(P, P + cols * gpu::kParams, 0.0);
    const netmirror::FeatureKind kind = family.kind();
    const double eff_slope = family.spec().slope;
    const std::vector<double>& xs = family.x();
    std::vector<double> thresholds;
    {
        py::gil_scoped_release release;
        auto pack = [&](int64_t c, std::vector<double>* thr) {
            const int64_t r = rp ? rp[c] : c;
            double* p = P + c * gpu::kParams;
            const netmirror::Feature f = family.feature(r);
            switch (kind) {
                case netmirror::FeatureKind::nested:
                    for (int h = 0; h < 4; ++h) {
                        p[h] = f.level[h];
                        p[4 + h] = f.sign[h];
                    }
                    break;
                case netmirror::FeatureKind::symmetrized:
                    p[0] = f.a1;
                    p[1] = f.anchor[0];
                    // h(b) exactly as Family::symmetrized_column computes it
                    p[2] = netmirror::detail::with_activation(spec.activation, eff_slope, [&](auto act) {
                        return act(f.anchor[1] - f.a1) + act(f.anchor[0] - f.anchor[1]);
                    });
                    p[3] = f.sign[0];
                    break;
                case netmirror::FeatureKind::switching: {
                    p[0] = f.sign[0];
                    const size_t start = thr->size();
                    for (int32_t j : f.thresholds) thr->push_back(xs[static_cast<size_t>(j)]);
                    std::sort(thr->begin() + static_cast<std::ptrdiff_t>(start), thr->end());
                    off[c + 1] = static_cast<int64_t>(thr->size());
                    break;
                }
                case netmirror::FeatureKind::angular:
                    p[0] = xs[static_cast<size_t>(2 * r)];
                    p[1] = xs[static_cast<size_t>(2 * r + 1)];
                    break;
            }
        };
        off[0] = 0;
        if (kind == netmirror::FeatureKind::switching) {
            for (int64_t c = 0; c < cols; ++c) pack(c, &thresholds);  // variable length: one pass in order
        } else {
            std::fill(off, off + cols + 1, 0);
            netmirror::parallel_for(0, cols, netmirror::default_num_threads(), [&](int64_t lo, int64_t hi) {
                for (int64_t c = lo; c < hi; ++c) pack(c, nullptr);
            }, 4096);
        }
    }
    py::array_t<double> thr(static_cast<py::ssize_t>(std::max<size_t>(thresholds.size(), 1)));
    std::fill(thr.mutable_data(), thr.mutable_data() + thr.size(), 0.0);
    std::copy(thresholds.begin(), thresholds.end(), thr.mutable_data());
    return py::make_tuple(params, offsets, thr, static_cast<int>(kind), family.layers(), eff_slope);
}

// The CPU Lasso solver (lasso.hpp) over a device-backed matrix, watched for Ctrl-C like netmirror._core's
// solves; returns the same dict as _core.lasso_solve.
py::dict device_lasso(const netmirror::DesignMatrix& A, const DoubleArray& y, double beta, bool fit_intercept,
                      double tol, int64_t max_iter, int64_t ws_start, const py::object& coef_init, bool verbose) {
    if (y.size() != A.rows()) throw std::invalid_argument("y length must equal the rows of A");
    const nm_bind::WarmStart warm(coef_init, py::none(), A.rows(), A.cols(),
                                  "coef_init length must equal the columns of A", "dual length must equal the rows");
    std::atomic<bool> stop{false};
    netmirror::LassoOptions opt = nm_bind::lasso_options(beta, fit_intercept, tol, max_iter, verbose);
    opt.ws_start = ws_start;
    opt.stop = &stop;
    netmirror::LassoOutput out;
    const double* yp = y.data();
    const bool interrupted =
        nm_bind::run_watched([&] { out = netmirror::lasso(A, yp, opt, warm.coef_ptr, nullptr); }, stop);
    py::dict d = nm_bind::lasso_result(out);
    d["interrupted"] = interrupted;
    return d;
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
    m.doc() = "netmirror CUDA kernels and their host emulation (inputs are validated in netmirror/cuda.py)";
    m.def("device_count", &gpu::device_count);
    m.def("device_name", &gpu::device_name);
    m.def("runtime_version", &gpu::runtime_version);
    m.def("pack_library", &pack_library, py::arg("x"), py::arg("activation"), py::arg("architecture"),
          py::arg("depth"), py::arg("slope"), py::arg("switches"), py::arg("raw"));

    // Device launchers: pointers (P) are device pointers, `device` the arrays' device, `stream` a cudaStream_t.
    // The GIL is released: a launch may block while the stream's queue is full.
    m.def("assemble", [](py::tuple lib, int64_t cols, P out, bool f32, int device, P stream) {
        const auto L = library_columns(lib);
        py::gil_scoped_release release;
        gpu::assemble(L, cols, ptr<void>(out), f32, device, stream);
    });
    m.def("correlation_library", [](py::tuple lib, int64_t cols, P v, P out, int device, P stream, P shift) {
        const auto L = library_columns(lib);
        py::gil_scoped_release release;
        gpu::correlation_library(L, cols, ptr<const double>(v), ptr<const double>(shift), ptr<double>(out), device,
                                 stream);
    }, py::arg("lib"), py::arg("cols"), py::arg("v"), py::arg("out"), py::arg("device"), py::arg("stream"),
       py::arg("shift") = P(0));
    m.def("column_stats_library", [](py::tuple lib, int64_t cols, P mean, P csq, int device, P stream) {
        const auto L = library_columns(lib);
        py::gil_scoped_release release;
        gpu::column_stats_library(L, cols, ptr<double>(mean), ptr<double>(csq), device, stream);
    });
    m.def("correlation_dense", [](P a, bool f32, int64_t n, int64_t ld, int64_t cols, P v, P out, int device,
                                  P stream, P shift) {
        gpu::correlation_dense(dense(a, f32, n, ld), cols, ptr<const double>(v), ptr<const double>(shift),
                               ptr<double>(out), device, stream);
    }, py::arg("a"), py::arg("f32"), py::arg("n"), py::arg("ld"), py::arg("cols"), py::arg("v"), py::arg("out"),
       py::arg("device"), py::arg("stream"), py::arg("shift") = P(0), Release());
    m.def("column_stats_dense", [](P a, bool f32, int64_t n, int64_t ld, int64_t cols, P mean, P csq, int device,
                                   P stream) {
        gpu::column_stats_dense(dense(a, f32, n, ld), cols, ptr<double>(mean), ptr<double>(csq), device, stream);
    }, Release());
    m.def("covariance_offsets", [](P x, bool f32, int64_t n, int64_t dim, int64_t rs, int64_t cs, P shift, P w,
                                   int64_t slices, P partial, int device, P stream) {
        gpu::covariance_offsets(rows(x, f32, n, dim, rs, cs), ptr<const double>(shift), ptr<const double>(w), slices,
                                ptr<double>(partial), device, stream);
    }, Release());
    m.def("covariance_scatter", [](P x, bool f32, int64_t n, int64_t dim, int64_t rs, int64_t cs, P center, P scale,
                                   int64_t slices, P out, int device, P stream) {
        gpu::covariance_scatter(rows(x, f32, n, dim, rs, cs), ptr<const double>(center), ptr<const double>(scale),
                                slices, ptr<double>(out), device, stream);
    }, Release());

    // The Lasso over the device-backed matrix: (design..., y, beta, fit_intercept, tol, max_iter, ws_start,
    // coef_init, verbose[, device, stream]); y and coef_init are host arrays.
    m.def("lasso_library", [](py::tuple lib, int64_t cols, DoubleArray y, double beta, bool fit_intercept, double tol,
                              int64_t max_iter, int64_t ws_start, py::object coef_init, bool verbose, int device,
                              P stream) {
        const gpu::DeviceMatrix A(library_columns(lib), cols, gpu::Where{false, device, stream});
        return device_lasso(A, y, beta, fit_intercept, tol, max_iter, ws_start, coef_init, verbose);
    });
    m.def("lasso_dense", [](P a, bool f32, int64_t n, int64_t ld, int64_t cols, DoubleArray y, double beta,
                            bool fit_intercept, double tol, int64_t max_iter, int64_t ws_start, py::object coef_init,
                            bool verbose, int device, P stream) {
        const gpu::DeviceMatrix A(dense(a, f32, n, ld), cols, gpu::Where{false, device, stream});
        return device_lasso(A, y, beta, fit_intercept, tol, max_iter, ws_start, coef_init, verbose);
    });

    // Host emulation: the same signatures without device and stream; pointers are host (NumPy) pointers.
    m.def("emulate_lasso_library", [](py::tuple lib, int64_t cols, DoubleArray y, double beta, bool fit_intercept,
                                      double tol, int64_t max_iter, int64_t ws_start, py::object coef_init,
                                      bool verbose) {
        const gpu::DeviceMatrix A(library_columns(lib), cols, gpu::Where{true, 0, 0});
        return device_lasso(A, y, beta, fit_intercept, tol, max_iter, ws_start, coef_init, verbose);
    });
    m.def("emulate_lasso_dense", [](P a, bool f32, int64_t n, int64_t ld, int64_t cols, DoubleArray y, double beta,
                                    bool fit_intercept, double tol, int64_t max_iter, int64_t ws_start,
                                    py::object coef_init, bool verbose) {
        const gpu::DeviceMatrix A(dense(a, f32, n, ld), cols, gpu::Where{true, 0, 0});
        return device_lasso(A, y, beta, fit_intercept, tol, max_iter, ws_start, coef_init, verbose);
    });
    m.def("emulate_assemble", [](py::tuple lib, int64_t cols, P out, bool f32) {
        const auto L = library_columns(lib);
        py::gil_scoped_release release;
        gpu::emulate::assemble(L, cols, ptr<void>(out), f32);
    });
    m.def("emulate_correlation_library", [](py::tuple lib, int64_t cols, P v, P out, P shift) {
        const auto L = library_columns(lib);
        py::gil_scoped_release release;
        gpu::emulate::correlation_library(L, cols, ptr<const double>(v), ptr<const double>(shift), ptr<double>(out));
    }, py::arg("lib"), py::arg("cols"), py::arg("v"), py::arg("out"), py::arg("shift") = P(0));
    m.def("emulate_column_stats_library", [](py::tuple lib, int64_t cols, P mean, P csq) {
        const auto L = library_columns(lib);
        py::gil_scoped_release release;
        gpu::emulate::column_stats_library(L, cols, ptr<double>(mean), ptr<double>(csq));
    });
    m.def("emulate_correlation_dense", [](P a, bool f32, int64_t n, int64_t ld, int64_t cols, P v, P out, P shift) {
        gpu::emulate::correlation_dense(dense(a, f32, n, ld), cols, ptr<const double>(v), ptr<const double>(shift),
                                        ptr<double>(out));
    }, py::arg("a"), py::arg("f32"), py::arg("n"), py::arg("ld"), py::arg("cols"), py::arg("v"), py::arg("out"),
       py::arg("shift") = P(0), Release());
    m.def("emulate_column_stats_dense", [](P a, bool f32, int64_t n, int64_t ld, int64_t cols, P mean, P csq) {
        gpu::emulate::column_stats_dense(dense(a, f32, n, ld), cols, ptr<double>(mean), ptr<double>(csq));
    }, Release());
    m.def("emulate_covariance_offsets", [](P x, bool f32, int64_t n, int64_t dim, int64_t rs, int64_t cs, P shift,
                                           P w, int64_t slices, P partial) {
        gpu::emulate::covariance_offsets(rows(x, f32, n, dim, rs, cs), ptr<const double>(shift), ptr<const double>(w),
                                         slices, ptr<double>(partial));
    }, Release());
    m.def("emulate_covariance_scatter", [](P x, bool f32, int64_t n, int64_t dim, int64_t rs, int64_t cs, P center,
                                           P scale, int64_t slices, P out) {
        gpu::emulate::covariance_scatter(rows(x, f32, n, dim, rs, cs), ptr<const double>(center),
                                         ptr<const double>(scale), slices, ptr<double>(out));
    }, Release());
}

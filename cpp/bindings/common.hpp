// Shared by the binding files: array aliases, vector -> NumPy, and the Lasso solve's options, warm start and
// result dict (the dense and the matrix-free solve return the same dict).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <netmirror/lasso.hpp>

// Hidden like pybind11's own namespace (its types are members here).
namespace nm_bind __attribute__((visibility("hidden"))) {

namespace py = pybind11;

using DoubleVector = py::array_t<double, py::array::c_style | py::array::forcecast>;
using IndexArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

inline py::array_t<double> to_numpy(const std::vector<double>& v) {
    py::array_t<double> a(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
}

// coef_init / dual_init as float64 views (kept alive here), or null pointers when None.
struct WarmStart {
    DoubleVector coef, dual;
    const double* coef_ptr = nullptr;
    const double* dual_ptr = nullptr;

    WarmStart(const py::object& z0, const py::object& theta0, int64_t rows, int64_t cols, const char* coef_msg,
              const char* dual_msg) {
        if (!z0.is_none()) {
            coef = DoubleVector::ensure(z0);
            if (!coef || coef.size() != cols) throw std::invalid_argument(coef_msg);
            coef_ptr = coef.data();
        }
        if (!theta0.is_none()) {
            dual = DoubleVector::ensure(theta0);
            if (!dual || dual.size() != rows) throw std::invalid_argument(dual_msg);
            dual_ptr = dual.data();
        }
    }
};

inline netmirror::LassoOptions lasso_options(double beta, bool fit_intercept, double tol, int64_t max_iter,
                                             bool verbose) {
    netmirror::LassoOptions opt;
    opt.beta = beta;
    opt.fit_intercept = fit_intercept;
    opt.tol = tol;
    opt.max_iter = max_iter;
    opt.verbose = verbose;
    return opt;
}

inline py::dict lasso_result(const netmirror::LassoOutput& out) {
    py::dict d;
    d["coef"] = to_numpy(out.coef);
    d["dual"] = to_numpy(out.dual);
    d["intercept"] = out.intercept;
    d["objective"] = out.objective;
    d["gap"] = out.gap;
    d["relative_gap"] = out.relative_gap;
    d["p0"] = out.p0;
    d["n_iter"] = out.n_iter;
    d["n_epochs"] = out.n_epochs;
    d["converged"] = out.converged;
    return d;
}

}  // namespace nm_bind

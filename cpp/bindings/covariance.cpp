// Bindings for CovarianceAccumulator: X is read in place (float32/float64, any strides), the GIL is
// released while the batch is accumulated. Shape, dtype and weights are validated in the Python layer;
// NaN/inf are detected in C++ during the mean pass (no extra pass over X). With watch=True (long batches,
// decided in Python) the batch runs on a watched worker (common.hpp) into a copy of M2 that replaces it
// only when complete: Ctrl-C then leaves the accumulator unchanged and raises KeyboardInterrupt.
//
// Every method locks the accumulator's mutex (covariance.hpp), always after releasing the GIL: a thread
// holding the mutex (e.g. a watched update, whose caller wakes up with the GIL) never waits for a thread
// that holds the GIL while it waits for the mutex.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <vector>

#include <netmirror/covariance.hpp>

#include "common.hpp"

namespace py = pybind11;
using nm_bind::DoubleVector;
using nm_bind::to_numpy;

namespace {

using netmirror::CovarianceAccumulator;

template <class T>
void update_typed(CovarianceAccumulator& acc, const py::array& X, const double* weights, bool watch) {
    const auto item = static_cast<py::ssize_t>(sizeof(T));
    if (X.strides(0) % item != 0 || X.strides(1) % item != 0)
        throw std::invalid_argument("X strides must be multiples of its item size");
    const T* data = static_cast<const T*>(X.data());
    const int64_t rows = X.shape(0), rs = X.strides(0) / item, cs = X.strides(1) / item;
    if (!watch) {
        py::gil_scoped_release release;
        acc.update(data, rows, rs, cs, weights);
        return;
    }
    std::atomic<bool> stop{false};
    const bool interrupted = nm_bind::run_watched(
        [&] { acc.update(data, rows, rs, cs, weights, netmirror::default_num_threads(), &stop); }, stop);
    if (interrupted) nm_bind::raise_keyboard_interrupt();
}

// A (dim, dim) matrix filled by `fill` with the GIL released; with_weight: (total weight, matrix), read together.
template <class Fill>
py::object square(const CovarianceAccumulator& acc, bool with_weight, Fill fill) {
    const auto d = static_cast<py::ssize_t>(acc.dim());
    py::array_t<double> out({d, d});
    double* p = out.mutable_data();
    double weight;
    {
        py::gil_scoped_release release;
        weight = fill(p);
    }
    if (with_weight) return py::make_tuple(weight, out);
    return out;
}

template <class R>
R without_gil(const CovarianceAccumulator& acc, R (CovarianceAccumulator::*get)() const) {
    py::gil_scoped_release release;
    return (acc.*get)();
}

}  // namespace

void register_covariance(py::module_& m) {
    py::class_<CovarianceAccumulator>(m, "CovarianceAccumulatorCore")
        .def(py::init<int64_t>(), py::arg("dim"))
        .def(
            "update",
            [](CovarianceAccumulator& acc, const py::array& X, py::object weights, bool watch) {
                if (X.ndim() != 2 || X.shape(1) != acc.dim()) throw std::invalid_argument("X must have shape (n, dim)");
                DoubleVector w;
                if (!weights.is_none()) {
                    w = DoubleVector::ensure(weights);
                    if (!w || w.ndim() != 1 || w.shape(0) != X.shape(0))
                        throw std::invalid_argument("weights must have shape (n,)");
                }
                const double* wp = weights.is_none() ? nullptr : w.data();
                // Compare by kind and size, not dtype identity: arrays unpickled elsewhere (dask workers)
                // carry equal but distinct dtype objects. Byte-swapped data is converted in Python.
                const py::dtype dt = X.dtype();
                if (dt.kind() == 'f' && dt.byteorder() != '>') {
                    if (dt.itemsize() == 4) return update_typed<float>(acc, X, wp, watch);
                    if (dt.itemsize() == 8) return update_typed<double>(acc, X, wp, watch);
                }
                throw py::type_error("X must be float32 or float64 in native byte order");
            },
            py::arg("X"), py::arg("weights") = py::none(), py::arg("watch") = false)
        .def("merge", &CovarianceAccumulator::merge, py::arg("other"), py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("dim", &CovarianceAccumulator::dim)
        .def_property_readonly("count",
                               [](const CovarianceAccumulator& a) { return without_gil(a, &CovarianceAccumulator::count); })
        .def_property_readonly(
            "total_weight", [](const CovarianceAccumulator& a) { return without_gil(a, &CovarianceAccumulator::total_weight); })
        .def_property_readonly(
            "mean", [](const CovarianceAccumulator& a) { return to_numpy(without_gil(a, &CovarianceAccumulator::mean)); })
        .def_property_readonly(
            "mean_hi", [](const CovarianceAccumulator& a) { return to_numpy(without_gil(a, &CovarianceAccumulator::mean_hi)); })
        .def_property_readonly(
            "mean_lo", [](const CovarianceAccumulator& a) { return to_numpy(without_gil(a, &CovarianceAccumulator::mean_lo)); })
        .def(
            "scatter",
            [](const CovarianceAccumulator& a, bool with_weight) {
                return square(a, with_weight, [&](double* p) { return a.scatter(p); });
            },
            py::arg("with_weight") = false)
        .def(
            "second_moment",
            [](const CovarianceAccumulator& a, bool with_weight) {
                return square(a, with_weight, [&](double* p) { return a.second_moment(p); });
            },
            py::arg("with_weight") = false)
        .def("get_state",
             [](const CovarianceAccumulator& a) {
                 const auto d = static_cast<py::ssize_t>(a.dim());
                 py::array_t<double> hi(d), lo(d), scatter({d, d});
                 double* ph = hi.mutable_data();
                 double* pl = lo.mutable_data();
                 double* ps = scatter.mutable_data();
                 int64_t count;
                 double weight;
                 {
                     py::gil_scoped_release release;
                     a.get_state(count, weight, ph, pl, ps);
                 }
                 return py::make_tuple(count, weight, hi, lo, scatter);
             },
             "(count, total_weight, mean_hi, mean_lo, scatter) read at one instant.")
        .def("set_state",
             [](CovarianceAccumulator& a, int64_t count, double weight, DoubleVector hi, DoubleVector lo,
                DoubleVector scatter) {
                 const auto d = a.dim();
                 if (hi.size() != d || lo.size() != d || scatter.size() != d * d)
                     throw std::invalid_argument("state arrays do not match dim");
                 const double *ph = hi.data(), *pl = lo.data(), *ps = scatter.data();
                 py::gil_scoped_release release;
                 a.set_state(count, weight, ph, pl, ps);
             });
    m.def("covariance_kernel", [] { return std::string(netmirror::cov_detail::micro_kernel_name()); },
          "Name of the covariance micro-kernel this CPU runs (avx2+fma or portable).");
}

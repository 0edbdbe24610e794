// Shared by the binding files: array aliases, vector -> NumPy, the Lasso solve's options, warm start and
// result dict (the dense and the matrix-free solve return the same dict), and the Ctrl-C watcher of long calls.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

#include <netmirror/lasso.hpp>
#include <netmirror/parallel.hpp>

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

// The certificate fields every certified solver returns (Lasso, convex ReLU group Lasso).
template <class Output>
void put_certificate(py::dict& d, const Output& out) {
    d["dual"] = to_numpy(out.dual);
    d["objective"] = out.objective;
    d["gap"] = out.gap;
    d["relative_gap"] = out.relative_gap;
    d["p0"] = out.p0;
    d["n_iter"] = out.n_iter;
    d["n_epochs"] = out.n_epochs;
    d["converged"] = out.converged;
}

inline py::dict lasso_result(const netmirror::LassoOutput& out) {
    py::dict d;
    d["coef"] = to_numpy(out.coef);
    d["intercept"] = out.intercept;
    put_certificate(d, out);
    return d;
}

// Long kernels run on a worker thread while the calling thread, holding the GIL, wakes every 50 ms to run
// Python's signal handlers (Ctrl-C) and the optional progress callback (given counter's value). A
// KeyboardInterrupt raises `stop`, which the kernel polls; run_watched then waits for the worker and returns
// true. Any other Python exception (a signal handler's or the callback's) is re-raised after the join, as is
// an exception thrown by work() (netmirror::Interrupted only when no KeyboardInterrupt explains it).
inline bool run_watched(const std::function<void()>& work, std::atomic<bool>& stop,
                        const py::object& progress = py::none(), const std::atomic<int64_t>* counter = nullptr) {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    std::exception_ptr work_error;
    std::thread worker([&] {
        try {
            work();
        } catch (...) {
            work_error = std::current_exception();
        }
        std::lock_guard<std::mutex> lock(mutex);
        done = true;
        cv.notify_all();
    });
    const auto count = [&] { return counter ? counter->load(std::memory_order_relaxed) : int64_t(0); };
    bool interrupted = false;
    std::unique_ptr<py::error_already_set> py_error;
    for (;;) {
        bool finished;
        {
            py::gil_scoped_release release;
            std::unique_lock<std::mutex> lock(mutex);
            finished = cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return done; });
        }
        if (finished) break;
        if (PyErr_CheckSignals() != 0) {
            py::error_already_set e;  // fetches (and clears) the handler's exception
            stop = true;
            if (e.matches(PyExc_KeyboardInterrupt)) interrupted = true;
            else if (!py_error) py_error = std::make_unique<py::error_already_set>(std::move(e));
        }
        if (!progress.is_none() && !py_error) {
            try {
                progress(count());
            } catch (py::error_already_set& e) {
                stop = true;
                py_error = std::make_unique<py::error_already_set>(std::move(e));
            }
        }
    }
    worker.join();
    if (py_error) throw std::move(*py_error);
    if (work_error) {
        try {
            std::rethrow_exception(work_error);
        } catch (const netmirror::Interrupted&) {
            if (!interrupted) throw;
        }
    }
    if (!progress.is_none()) progress(count());
    return interrupted;
}

// Runs work() watched when `watch` (long calls), else inline with the GIL released (a thread per call would
// cost more than short work). Returns whether Ctrl-C stopped it.
inline bool run_released(const std::function<void()>& work, std::atomic<bool>& stop, bool watch) {
    if (watch) return run_watched(work, stop);
    py::gil_scoped_release release;
    work();
    return false;
}

// std::bad_alloc from any kernel reaches Python as a MemoryError that says what happened and what to do
// (pybind11's default gives MemoryError('std::bad_alloc'), which `netmirror fit` would print as is). The
// entry points check their estimates against netmirror's memory limit first, so this is the machine having
// less free memory than the limit assumes, or an estimate falling short. Registered once, for the module.
inline void register_error_translators() {
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const std::bad_alloc&) {
            PyErr_SetString(PyExc_MemoryError,
                            "out of memory: netmirror's C++ core could not allocate the working memory of this call "
                            "(the machine has less free memory than netmirror's memory limit allows); free memory or "
                            "make the problem smaller (fewer samples, features, patterns or library features), and "
                            "set netmirror.set_memory_limit(nbytes) to the memory really available so that such "
                            "calls are refused up front with an estimate");
        }
    });
}

// The KeyboardInterrupt a stopped kernel ends with when it has no partial result to return.
[[noreturn]] inline void raise_keyboard_interrupt() {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
}

}  // namespace nm_bind

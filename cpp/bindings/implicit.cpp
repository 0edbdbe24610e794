// Bindings for matrix-free libraries: the implicit operator (LibraryMatrix) and the Lasso solve over it.
//
// Long calls run watched (common.hpp run_watched: Ctrl-C and the optional progress callback every 50 ms).
// KeyboardInterrupt raises the solver's stop flag, so the solve returns its best certified iterate with
// "interrupted": True.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <functional>
#include <memory>
#include <numeric>
#include <string>

#include <netmirror/implicit.hpp>
#include <netmirror/lasso.hpp>
#include <netmirror/reflection_planes.hpp>

#include "common.hpp"

namespace py = pybind11;
using netmirror::Family;
using netmirror::LibraryMatrix;
using netmirror::PlaneFamily;
using netmirror::PlaneLibraryMatrix;
using nm_bind::DoubleVector;
using nm_bind::IndexArray;
using nm_bind::to_numpy;

namespace {

// The operator as seen from Python: owns its counters, keeps the family and the kept indices alive. The
// family is a 1-D Family (LibraryMatrix: streamed or prefix-sum correlations) or a PlaneFamily
// (PlaneLibraryMatrix: streamed columns).
class LibraryOperator {
public:
    LibraryOperator(py::object family, py::object raw, const std::string& route, py::object progress)
        : family_obj_(std::move(family)) {
        const bool planes = py::isinstance<PlaneFamily>(family_obj_);
        if (!planes && !py::isinstance<Family>(family_obj_))
            throw std::invalid_argument("family must be a Family or a PlaneFamily");
        const int64_t* rp = nullptr;
        int64_t count = 0;
        if (!raw.is_none()) {
            raw_ = IndexArray::ensure(raw);
            if (!raw_ || raw_.ndim() != 1) throw std::invalid_argument("raw_index must be a 1-D integer array or None");
            rp = raw_.data();
            count = raw_.size();
        }
        LibraryMatrix::Route r;
        if (route == "auto") r = LibraryMatrix::Route::automatic;
        else if (route == "streaming") r = LibraryMatrix::Route::streaming;
        else if (route == "structured") r = LibraryMatrix::Route::structured;
        else throw std::invalid_argument("route must be 'auto', 'streaming' or 'structured', got '" + route + "'");
        if (planes && r == LibraryMatrix::Route::structured)
            throw std::invalid_argument("plane libraries are streamed: route must be 'auto' or 'streaming'");
        std::atomic<bool> stop{false};
        const bool interrupted = nm_bind::run_watched(
            [&] {
                if (planes)
                    op_ = std::make_unique<PlaneLibraryMatrix>(family_obj_.cast<const PlaneFamily&>(), rp, count, 0,
                                                               &stop, &counter_);
                else
                    op_ = std::make_unique<LibraryMatrix>(family_obj_.cast<const Family&>(), rp, count, r, 0, &stop,
                                                          &counter_);
            },
            stop, progress, &counter_);
        if (interrupted || !op_) nm_bind::raise_keyboard_interrupt();  // no iterate exists yet
    }

    const netmirror::DesignMatrix& op() const { return *op_; }
    const LibraryMatrix* library() const { return dynamic_cast<const LibraryMatrix*>(op_.get()); }
    std::atomic<int64_t>& counter() { return counter_; }

    py::array_t<double> tmul(DoubleVector v, py::object idx) const {
        if (v.ndim() != 1 || v.size() != op_->rows())
            throw std::invalid_argument("v must be a vector of length " + std::to_string(op_->rows()));
        std::vector<int64_t> all;
        IndexArray ia;
        const int64_t* ip;
        int64_t count;
        if (idx.is_none()) {
            all.resize(static_cast<size_t>(op_->cols()));
            for (int64_t j = 0; j < op_->cols(); ++j) all[j] = j;
            ip = all.data();
            count = op_->cols();
        } else {
            ia = IndexArray::ensure(idx);
            if (!ia || ia.ndim() != 1) throw std::invalid_argument("idx must be a 1-D integer array");
            ip = ia.data();
            count = ia.size();
            for (int64_t k = 0; k < count; ++k)
                if (ip[k] < 0 || ip[k] >= op_->cols()) throw py::index_error("column index out of range");
        }
        py::array_t<double> out(static_cast<py::ssize_t>(count));
        double* o = out.mutable_data();
        const double* vp = v.data();
        py::gil_scoped_release release;
        netmirror::parallel_tmul(*op_, vp, ip, count, o, netmirror::default_num_threads());
        return out;
    }

    py::array_t<double> column(int64_t j) const {
        if (j < 0 || j >= op_->cols()) throw py::index_error("column index out of range");
        py::array_t<double> out(static_cast<py::ssize_t>(op_->rows()));
        op_->column(j, out.mutable_data());
        return out;
    }

    py::tuple column_stats() const {
        const int64_t m = op_->cols();
        py::array_t<double> mean(static_cast<py::ssize_t>(m)), csq(static_cast<py::ssize_t>(m));
        double *mp = mean.mutable_data(), *cp = csq.mutable_data();
        for (int64_t j = 0; j < m; ++j) op_->column_stats(j, mp[j], cp[j]);
        return py::make_tuple(mean, csq);
    }

private:
    py::object family_obj_;  // the Family outlives the operator
    IndexArray raw_;         // kept raw indices (read by the operator, not copied)
    std::atomic<int64_t> counter_{0};
    std::unique_ptr<netmirror::DesignMatrix> op_;
};

}  // namespace

void register_implicit(py::module_& m) {
    py::class_<LibraryOperator>(m, "LibraryOperator",
                                "Matrix-free dictionary of a library: columns are evaluated on demand, never stored.")
        .def(py::init<py::object, py::object, const std::string&, py::object>(), py::arg("family"),
             py::arg("raw_index"), py::arg("route") = "auto", py::arg("progress") = py::none())
        .def_property_readonly("rows", [](const LibraryOperator& o) { return o.op().rows(); })
        .def_property_readonly("cols", [](const LibraryOperator& o) { return o.op().cols(); })
        .def_property_readonly("structured", [](const LibraryOperator& o) { return o.library() && o.library()->structured(); })
        .def_property_readonly("streamed_fallbacks",
                               [](const LibraryOperator& o) { return o.library() ? o.library()->streamed_fallbacks() : int64_t(0); })
        .def_property_readonly("columns_evaluated",
                               [](LibraryOperator& o) { return o.counter().load(std::memory_order_relaxed); },
                               "Columns evaluated so far (statistics pass and correlations): what progress reports.")
        .def("tmul", &LibraryOperator::tmul, py::arg("v"), py::arg("idx") = py::none(),
             "A[:, idx]^T v (all columns when idx is None).")
        .def("column", &LibraryOperator::column, py::arg("j"))
        .def("column_stats", &LibraryOperator::column_stats, "(means, centered squared norms) of every column.")
        .def("beta_max",
             [](const LibraryOperator& o, DoubleVector y, bool fit_intercept) {
                 if (y.ndim() != 1 || y.size() != o.op().rows())
                     throw std::invalid_argument("y length must equal the rows of the library");
                 const double* yp = y.data();
                 py::gil_scoped_release release;
                 return netmirror::lasso_beta_max(o.op(), yp, fit_intercept);
             },
             py::arg("y"), py::arg("fit_intercept"));

    // The dense solver's correlation kernel, for benchmarks against the implicit operator.
    m.def(
        "dense_tmul",
        [](py::array_t<double, py::array::f_style | py::array::forcecast> A, DoubleVector v) {
            if (A.ndim() != 2 || v.ndim() != 1 || v.size() != A.shape(0))
                throw std::invalid_argument("need a 2-D A and a vector v with A.shape[0] entries");
            const int64_t n = A.shape(0), cols = A.shape(1);
            py::array_t<double> out(static_cast<py::ssize_t>(cols));
            double* o = out.mutable_data();
            const netmirror::DenseMatrix<double> mat(A.data(), n, cols, true);
            std::vector<int64_t> idx(static_cast<size_t>(cols));
            std::iota(idx.begin(), idx.end(), int64_t(0));
            const double* vp = v.data();
            py::gil_scoped_release release;
            netmirror::parallel_tmul(mat, vp, idx.data(), cols, o, netmirror::default_num_threads());
            return out;
        },
        py::arg("A"), py::arg("v"), "A^T v over every column of a Fortran float64 A (the dense solver's kernel).");

    m.def(
        "lasso_solve_library",
        [](LibraryOperator& op, DoubleVector y, double beta, bool fit_intercept, double tol, int64_t max_iter,
           py::object z0, py::object theta0, bool verbose, py::object progress) {
            const netmirror::DesignMatrix& A = op.op();
            if (y.ndim() != 1 || y.size() != A.rows()) throw std::invalid_argument("y length must equal the rows of the library");
            const nm_bind::WarmStart warm(z0, theta0, A.rows(), A.cols(),
                                          "coef_init length must equal the library size",
                                          "dual length must equal the rows of the library");
            std::atomic<bool> stop{false};
            netmirror::LassoOptions opt = nm_bind::lasso_options(beta, fit_intercept, tol, max_iter, verbose);
            opt.stop = &stop;
            netmirror::LassoOutput out;
            const double* yp = y.data();
            const auto solve = [&] { out = netmirror::lasso(A, yp, opt, warm.coef_ptr, warm.dual_ptr); };
            const bool interrupted = nm_bind::run_watched(solve, stop, progress, &op.counter());
            py::dict d = nm_bind::lasso_result(out);
            d["interrupted"] = interrupted;
            return d;
        },
        py::arg("operator"), py::arg("y"), py::arg("beta"), py::arg("fit_intercept"), py::arg("tol"),
        py::arg("max_iter"), py::arg("coef_init"), py::arg("dual_init"), py::arg("verbose"),
        py::arg("progress") = py::none(),
        "lasso_solve over a LibraryOperator; Ctrl-C returns the best iterate with interrupted=True.");
}

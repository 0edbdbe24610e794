// Bindings for the Lasso solver: arrays in (float32/float64, C or Fortran order, never copied), a dict out.
// The solve runs watched (common.hpp): Ctrl-C stops it with its best certified iterate, "interrupted": True.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <memory>

#include <netmirror/dual_active_set.hpp>
#include <netmirror/lasso.hpp>

#include "common.hpp"

namespace py = pybind11;
using nm_bind::DoubleVector;

namespace {

// A view of a 2-D float array (validated in Python: contiguous in C or Fortran order, finite).
std::unique_ptr<netmirror::DesignMatrix> view(const py::array& A) {
    if (A.ndim() != 2) throw std::invalid_argument("A must be 2-D");
    const bool fortran = (A.flags() & py::array::f_style) != 0;
    const bool c_order = (A.flags() & py::array::c_style) != 0;
    if (!fortran && !c_order) throw std::invalid_argument("A must be contiguous (C or Fortran order)");
    const int64_t n = A.shape(0), m = A.shape(1);
    // A single row or column is both C and Fortran contiguous; column-major reads are then exact either way.
    if (py::isinstance<py::array_t<double>>(A))  // dtype equivalence, not identity (unpickled arrays)
        return std::make_unique<netmirror::DenseMatrix<double>>(static_cast<const double*>(A.data()), n, m, fortran);
    if (py::isinstance<py::array_t<float>>(A))
        return std::make_unique<netmirror::DenseMatrix<float>>(static_cast<const float*>(A.data()), n, m, fortran);
    throw py::type_error("A must be float64 or float32");
}

}  // namespace

void register_lasso(py::module_& m) {
    m.def(
        "lasso_solve",
        [](const py::array& A, DoubleVector y, double beta, bool fit_intercept, double tol, int64_t max_iter,
           py::object z0, py::object theta0, bool verbose) {
            auto mat = view(A);
            if (y.size() != mat->rows()) throw std::invalid_argument("y length must equal the rows of A");
            const nm_bind::WarmStart warm(z0, theta0, mat->rows(), mat->cols(),
                                          "coef_init length must equal the columns of A",
                                          "dual length must equal the rows of A");
            std::atomic<bool> stop{false};
            netmirror::LassoOptions opt = nm_bind::lasso_options(beta, fit_intercept, tol, max_iter, verbose);
            opt.stop = &stop;
            netmirror::LassoOutput out;
            const double* yp = y.data();
            const bool interrupted = nm_bind::run_watched(
                [&] { out = netmirror::lasso(*mat, yp, opt, warm.coef_ptr, warm.dual_ptr); }, stop);
            py::dict d = nm_bind::lasso_result(out);
            d["interrupted"] = interrupted;
            return d;
        },
        py::arg("A"), py::arg("y"), py::arg("beta"), py::arg("fit_intercept"), py::arg("tol"), py::arg("max_iter"),
        py::arg("coef_init"), py::arg("dual_init"), py::arg("verbose"),
        "Solve min 1/2||A z + xi 1 - y||^2 + beta ||z||_1 (sum units) to a certified relative gap tol.");
    m.def(
        "lasso_limit",
        [](const py::array& A, DoubleVector y, py::object w, double beta, bool fit_intercept, double tol_abs,
           double lp_tol, int64_t max_passes) {
            auto mat = view(A);
            const int64_t n = mat->rows();
            if (y.size() != n) throw std::invalid_argument("y length must equal the rows of A");
            DoubleVector wv;
            const double* wp = nullptr;
            if (!w.is_none()) {
                wv = DoubleVector::ensure(w);
                if (!wv || wv.size() != n) throw std::invalid_argument("weights length must equal the rows of A");
                wp = wv.data();
            }
            std::atomic<bool> stop{false};
            netmirror::BasisPursuitOptions opt;
            opt.tol = lp_tol;
            opt.max_passes = max_passes;
            opt.stop = &stop;
            netmirror::SparseLimitOutput out;
            const double* yp = y.data();
            const bool interrupted = nm_bind::run_watched(
                [&] { out = netmirror::lasso_from_limit(*mat, yp, wp, fit_intercept, beta, tol_abs, opt); }, stop);
            py::dict d;
            d["lp_coef"] = nm_bind::to_numpy(out.limit.coef);
            d["lp_dual"] = nm_bind::to_numpy(out.limit.dual);
            d["lp_l1"] = out.limit.l1;
            d["lp_dual_value"] = out.limit.dual_value;
            d["lp_gap"] = out.limit.gap;
            d["lp_converged"] = out.limit.converged;
            d["lp_infeasibility"] = out.limit.infeasibility;
            d["lp_residual_norm2"] = out.limit.residual_norm2;
            d["rank"] = out.limit.rank;
            d["pivots"] = out.limit.pivots;
            d["degenerate_pivots"] = out.limit.degenerate_pivots;
            d["lp_passes"] = out.limit.passes;
            d["target"] = nm_bind::to_numpy(out.target);
            d["coef"] = nm_bind::to_numpy(out.lasso.coef);
            d["dual"] = nm_bind::to_numpy(out.lasso.dual);
            d["objective"] = out.lasso.objective;
            d["gap"] = out.lasso.gap;
            d["steps"] = out.lasso.steps;
            d["drops"] = out.lasso.drops;
            d["passes"] = out.lasso.passes;
            d["converged"] = out.lasso.converged;
            d["interrupted"] = interrupted;
            return d;
        },
        py::arg("A"), py::arg("y"), py::arg("weights"), py::arg("beta"), py::arg("fit_intercept"), py::arg("tol_abs"),
        py::arg("lp_tol"), py::arg("max_passes"),
        "The Lasso's beta -> 0+ limit (basis pursuit, basic solution, LP certificate) and, for beta > 0, the path "
        "solved from it by a dual active-set method; rows weighted by w (merged duplicates).");
    m.def(
        "lasso_beta_max",
        [](const py::array& A, DoubleVector y, bool fit_intercept) {
            auto mat = view(A);
            if (y.size() != mat->rows()) throw std::invalid_argument("y length must equal the rows of A");
            py::gil_scoped_release release;
            return netmirror::lasso_beta_max(*mat, y.data(), fit_intercept);
        },
        py::arg("A"), py::arg("y"), py::arg("fit_intercept"));
}

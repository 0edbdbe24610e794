// Bindings for the Lasso solver: arrays in (float32/float64, C or Fortran order, never copied), a dict out.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>

#include <netmirror/lasso.hpp>

namespace py = pybind11;

namespace {

using DoubleVector = py::array_t<double, py::array::c_style | py::array::forcecast>;

// A view of a 2-D float array (validated in Python: contiguous in C or Fortran order, finite).
std::unique_ptr<netmirror::DesignMatrix> view(const py::array& A) {
    if (A.ndim() != 2) throw std::invalid_argument("A must be 2-D");
    const bool fortran = (A.flags() & py::array::f_style) != 0;
    const bool c_order = (A.flags() & py::array::c_style) != 0;
    if (!fortran && !c_order) throw std::invalid_argument("A must be contiguous (C or Fortran order)");
    const int64_t n = A.shape(0), m = A.shape(1);
    // A single row or column is both C and Fortran contiguous; column-major reads are then exact either way.
    if (A.dtype().is(py::dtype::of<double>()))
        return std::make_unique<netmirror::DenseMatrix<double>>(static_cast<const double*>(A.data()), n, m, fortran);
    if (A.dtype().is(py::dtype::of<float>()))
        return std::make_unique<netmirror::DenseMatrix<float>>(static_cast<const float*>(A.data()), n, m, fortran);
    throw py::type_error("A must be float64 or float32");
}

py::array_t<double> to_numpy(const std::vector<double>& v) {
    py::array_t<double> a(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
}

}  // namespace

void register_lasso(py::module_& m) {
    m.def(
        "lasso_solve",
        [](const py::array& A, DoubleVector y, double beta, bool fit_intercept, double tol, int64_t max_iter,
           py::object z0, py::object theta0, bool verbose) {
            auto mat = view(A);
            if (y.size() != mat->rows()) throw std::invalid_argument("y length must equal the rows of A");
            DoubleVector z0a, t0a;
            const double *z0p = nullptr, *t0p = nullptr;
            if (!z0.is_none()) {
                z0a = DoubleVector::ensure(z0);
                if (!z0a || z0a.size() != mat->cols()) throw std::invalid_argument("coef_init length must equal the columns of A");
                z0p = z0a.data();
            }
            if (!theta0.is_none()) {
                t0a = DoubleVector::ensure(theta0);
                if (!t0a || t0a.size() != mat->rows()) throw std::invalid_argument("dual length must equal the rows of A");
                t0p = t0a.data();
            }
            netmirror::LassoOptions opt;
            opt.beta = beta;
            opt.fit_intercept = fit_intercept;
            opt.tol = tol;
            opt.max_iter = max_iter;
            opt.verbose = verbose;
            netmirror::LassoOutput out;
            {
                py::gil_scoped_release release;
                out = netmirror::lasso(*mat, y.data(), opt, z0p, t0p);
            }
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
        },
        py::arg("A"), py::arg("y"), py::arg("beta"), py::arg("fit_intercept"), py::arg("tol"), py::arg("max_iter"),
        py::arg("coef_init"), py::arg("dual_init"), py::arg("verbose"),
        "Solve min 1/2||A z + xi 1 - y||^2 + beta ||z||_1 (sum units) to a certified relative gap tol.");
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

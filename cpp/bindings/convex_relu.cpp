// Bindings for convex two-layer ReLU networks: activation patterns, cone projection and the certified
// cone-constrained group Lasso. Arrays are validated in Python (float64, C order, finite); patterns cross
// as (P, N) bool arrays and are packed into bitsets here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <cstring>
#include <stdexcept>

#include <netmirror/convex_relu.hpp>

#include "common.hpp"

namespace py = pybind11;
using nm_bind::DoubleVector;
using nm_bind::to_numpy;

namespace {

using DoubleMatrix = py::array_t<double, py::array::c_style | py::array::forcecast>;
using BoolMatrix = py::array_t<bool, py::array::c_style | py::array::forcecast>;

void check_matrix(const DoubleMatrix& A, const char* name) {
    if (A.ndim() != 2) throw std::invalid_argument(std::string(name) + " must be 2-D");
}

py::tuple patterns_to_numpy(const netmirror::PatternSet& s) {
    const int64_t P = s.size(), n = s.n;
    py::array_t<bool> pats({static_cast<py::ssize_t>(P), static_cast<py::ssize_t>(n)});
    bool* out = pats.mutable_data();
    for (int64_t p = 0; p < P; ++p)
        for (int64_t i = 0; i < n; ++i) out[p * n + i] = s.active(p, i);
    py::array_t<int64_t> first(static_cast<py::ssize_t>(P));
    std::copy(s.first.begin(), s.first.end(), first.mutable_data());
    return py::make_tuple(pats, first);
}

netmirror::PatternSet patterns_from_numpy(const BoolMatrix& pats, int64_t n) {
    if (pats.ndim() != 2 || pats.shape(1) != n) throw std::invalid_argument("patterns must have shape (P, N)");
    netmirror::PatternSet s;
    s.n = n;
    s.words = (n + 63) / 64;
    const int64_t P = pats.shape(0);
    s.bits.assign(static_cast<size_t>(P * s.words), 0);
    s.first.resize(static_cast<size_t>(P));
    const bool* in = pats.data();
    for (int64_t p = 0; p < P; ++p) {
        s.first[p] = p;
        for (int64_t i = 0; i < n; ++i)
            if (in[p * n + i]) s.bits[p * s.words + (i >> 6)] |= uint64_t(1) << (i & 63);
    }
    return s;
}

}  // namespace

void register_convex_relu(py::module_& m) {
    m.def(
        "relu_patterns",
        [](DoubleMatrix X, DoubleMatrix U) {
            check_matrix(X, "X");
            check_matrix(U, "U");
            if (U.shape(1) != X.shape(1)) throw std::invalid_argument("U must have as many columns as X");
            netmirror::PatternSet s;
            std::atomic<bool> stop{false};
            const auto work = [&] {
                s = netmirror::distinct_patterns(X.data(), X.shape(0), X.shape(1), U.data(), U.shape(0), 0, &stop);
            };
            // Watched (Ctrl-C) when long: about m N k multiply-adds.
            const bool long_call = static_cast<double>(U.shape(0)) * X.shape(0) * X.shape(1) > 5e7;
            if (nm_bind::run_released(work, stop, long_call)) nm_bind::raise_keyboard_interrupt();
            return patterns_to_numpy(s);
        },
        py::arg("X"), py::arg("U"),
        "Distinct activation patterns 1[X u >= 0] of the directions U (rows), in order of first appearance, "
        "without the all-zero one: (patterns (P, N) bool, first (P,) index into U). Ctrl-C raises "
        "KeyboardInterrupt.");
    m.def(
        "relu_arrangement_points",
        [](DoubleMatrix X, double tol) {
            check_matrix(X, "X");
            std::vector<double> pts;
            std::atomic<bool> stop{false};
            const bool interrupted = nm_bind::run_watched(
                [&] { pts = netmirror::arrangement_points(X.data(), X.shape(0), X.shape(1), tol, 0, &stop); }, stop);
            if (interrupted) nm_bind::raise_keyboard_interrupt();
            const int64_t k = X.shape(1);
            py::array_t<double> out({static_cast<py::ssize_t>(pts.size() / k), static_cast<py::ssize_t>(k)});
            std::copy(pts.begin(), pts.end(), out.mutable_data());
            return out;
        },
        py::arg("X"), py::arg("tol"),
        "One interior point per chamber (with repeats) of the hyperplane arrangement {u : x_n^T u = 0}; Ctrl-C "
        "raises KeyboardInterrupt.");
    m.def(
        "relu_cone_project",
        [](DoubleMatrix X, BoolMatrix pattern, DoubleVector z) {
            check_matrix(X, "X");
            const int64_t n = X.shape(0), k = X.shape(1);
            if (z.size() != k) throw std::invalid_argument("z must have one entry per column of X");
            BoolMatrix p2 = BoolMatrix::ensure(pattern.reshape({static_cast<py::ssize_t>(1), static_cast<py::ssize_t>(n)}));
            const netmirror::PatternSet s = patterns_from_numpy(p2, n);
            netmirror::ConeProjector cone(X.data(), n, k);
            std::vector<double> p(static_cast<size_t>(k));
            const double nrm = cone.project(s.row(0), z.data(), p.data());
            return py::make_tuple(to_numpy(p), nrm);
        },
        py::arg("X"), py::arg("pattern"), py::arg("z"),
        "Projection of z onto {u : (2 d - 1)_n x_n^T u >= 0}: (p, ||p||), p = z + G^T lam with lam >= 0.");
    m.def(
        "relu_cone_interior",
        [](DoubleMatrix X, BoolMatrix pattern) {
            check_matrix(X, "X");
            const int64_t n = X.shape(0), k = X.shape(1);
            BoolMatrix p2 = BoolMatrix::ensure(pattern.reshape({static_cast<py::ssize_t>(1), static_cast<py::ssize_t>(n)}));
            const netmirror::PatternSet s = patterns_from_numpy(p2, n);
            std::vector<double> u(static_cast<size_t>(k));
            const double margin = netmirror::max_margin_direction(X.data(), n, k, s.row(0), u.data());
            return py::make_tuple(to_numpy(u), margin);
        },
        py::arg("X"), py::arg("pattern"),
        "Largest-margin unit direction of the cone {u : (2 d - 1)_n x_n^T u >= 0}: (u, margin); (0, 0) if the "
        "cone has no interior.");
    m.def(
        "convex_relu_barrier",
        [](DoubleMatrix X, DoubleVector y, BoolMatrix patterns, DoubleVector signs, double beta, double target,
           int64_t max_newton, double growth) {
            check_matrix(X, "X");
            const int64_t n = X.shape(0), k = X.shape(1);
            if (y.size() != n) throw std::invalid_argument("y length must equal the rows of X");
            const netmirror::PatternSet s = patterns_from_numpy(patterns, n);
            if (signs.size() != s.size()) throw std::invalid_argument("signs must have one entry per pattern");
            std::vector<int64_t> pattern(static_cast<size_t>(s.size()));
            std::vector<double> sign(signs.data(), signs.data() + signs.size());
            for (int64_t p = 0; p < s.size(); ++p) pattern[p] = p;
            netmirror::BarrierOptions opt;
            opt.beta = beta;
            opt.target = target;
            opt.max_newton = max_newton;
            opt.growth = growth;
            netmirror::BarrierResult res;
            {
                py::gil_scoped_release release;
                netmirror::GroupBarrier barrier(X.data(), n, k, y.data(), s);
                res = barrier.solve(pattern, sign, opt);
            }
            py::array_t<double> coef({static_cast<py::ssize_t>(s.size()), static_cast<py::ssize_t>(k)});
            std::copy(res.coef.begin(), res.coef.end(), coef.mutable_data());
            py::dict d;
            d["coef"] = coef;
            d["tau"] = res.tau;
            d["nu"] = res.nu;
            d["objective"] = res.objective;
            d["newton"] = res.newton;
            d["reached"] = res.reached;
            return d;
        },
        py::arg("X"), py::arg("y"), py::arg("patterns"), py::arg("signs"), py::arg("beta"), py::arg("target"),
        py::arg("max_newton"), py::arg("growth") = 20.0,
        "Primal barrier method on the groups (pattern p, sign s_p) of the convex ReLU program, to nu / tau <= "
        "target: dict(coef (P, k), tau, nu, objective, newton, reached).");
    m.def(
        "convex_relu_solve",
        [](DoubleMatrix X, DoubleVector y, BoolMatrix patterns, double beta, double tol, int64_t max_iter,
           bool verbose, py::object init, int64_t max_barrier, double max_bytes) {
            check_matrix(X, "X");
            const int64_t n = X.shape(0), k = X.shape(1);
            if (y.size() != n) throw std::invalid_argument("y length must equal the rows of X");
            const netmirror::PatternSet s = patterns_from_numpy(patterns, n);
            netmirror::ConvexReluOptions opt;
            opt.beta = beta;
            opt.tol = tol;
            opt.max_iter = max_iter;
            opt.verbose = verbose;
            opt.max_barrier = max_barrier;
            opt.max_bytes = max_bytes;
            DoubleMatrix start;
            if (!init.is_none()) {
                start = DoubleMatrix::ensure(init);
                if (!start || start.ndim() != 2 || start.shape(0) != 2 * s.size() || start.shape(1) != k)
                    throw std::invalid_argument("init must have shape (2P, k): the v groups, then the w groups");
            }
            netmirror::ConvexReluOutput out;
            // Watched: Ctrl-C raises the stop flag and the solver returns its iterate with its certificate.
            std::atomic<bool> stop{false};
            opt.stop = &stop;
            const double* init_ptr = init.is_none() ? nullptr : start.data();
            const bool interrupted = nm_bind::run_watched(
                [&] { out = netmirror::convex_relu(X.data(), n, k, y.data(), s, opt, init_ptr); }, stop);
            const int64_t P = s.size();
            py::dict d;
            py::array_t<double> V({static_cast<py::ssize_t>(P), static_cast<py::ssize_t>(k)});
            py::array_t<double> W({static_cast<py::ssize_t>(P), static_cast<py::ssize_t>(k)});
            std::copy(out.V.begin(), out.V.end(), V.mutable_data());
            std::copy(out.W.begin(), out.W.end(), W.mutable_data());
            d["V"] = V;
            d["W"] = W;
            d["dual_objective"] = out.dual_objective;
            nm_bind::put_certificate(d, out);
            d["interrupted"] = interrupted;
            return d;
        },
        py::arg("X"), py::arg("y"), py::arg("patterns"), py::arg("beta"), py::arg("tol"), py::arg("max_iter"),
        py::arg("verbose"), py::arg("init") = py::none(), py::arg("max_barrier") = 3, py::arg("max_bytes") = 0.0,
        "Solve the cone-constrained group Lasso of a two-layer ReLU net over the patterns, certified; Ctrl-C "
        "returns the iterate reached with interrupted=True. max_bytes caps the optional stages' working memory "
        "(interior point, Newton polish; 0: no cap).");
}

// Bindings for reflection-plane libraries of abs nets on d-dimensional inputs (reflection_planes.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <limits>

#include <netmirror/continuous_planes.hpp>
#include <netmirror/reflection_planes.hpp>

#include "common.hpp"

namespace py = pybind11;
using netmirror::PlaneFamily;
using nm_bind::IndexArray;
using RowMajor = py::array_t<double, py::array::c_style | py::array::forcecast>;

namespace {

template <class T>
void assemble_into(const PlaneFamily& f, const int64_t* raw, int64_t ncols, const double* t, int64_t m, py::array& out) {
    T* dst = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    netmirror::assemble<T>(f, raw, ncols, t, m, dst);
}

py::array_t<int64_t> to_index_array(const std::vector<int64_t>& v) {
    py::array_t<int64_t> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

}  // namespace

void register_reflection_planes(py::module_& m) {
    // Breakpoint points of the 1-D abs types of depth 3 or 4: per mode, a list of coefficient tuples over the
    // type's data slots (reflection_planes.hpp, abs_breakpoint_forms).
    // The exact 2-D dual oracle (continuous_planes.hpp): (value, u (2,), 1-D type, levels (depth - 1,)).
    m.def("plane_dual_sup_2d", [](RowMajor x, RowMajor theta, int depth) {
        if (x.ndim() != 2 || x.shape(1) != 2) throw std::invalid_argument("x must have shape (n, 2)");
        if (theta.ndim() != 1 || theta.shape(0) != x.shape(0)) throw std::invalid_argument("theta must have shape (n,)");
        netmirror::PlaneDualSup best;
        {
            py::gil_scoped_release release;
            best = netmirror::plane_dual_sup_2d(x.data(), x.shape(0), theta.data(), depth);
        }
        py::array_t<double> u(2), levels(depth - 1);
        u.mutable_at(0) = best.u[0], u.mutable_at(1) = best.u[1];
        for (int h = 0; h < depth - 1; ++h) levels.mutable_at(h) = best.levels[static_cast<size_t>(h)];
        return py::make_tuple(best.value, u, best.type, levels);
    }, py::arg("x"), py::arg("theta"), py::arg("depth"));
    m.def("abs_breakpoint_forms", [](int depth) {
        py::list modes;
        for (const auto& forms : netmirror::detail::abs_breakpoint_forms_cached(depth)) {
            py::list out;
            for (const auto& f : forms) {
                py::list c;
                for (int s = 0; s < depth - 1; ++s) c.append(f[static_cast<size_t>(s)]);
                out.append(py::tuple(c));
            }
            modes.append(out);
        }
        return modes;
    });
    py::class_<PlaneFamily>(m, "PlaneFamily")
        // x: (n, d) row-major float64; depth: weight layers of the abs net; norm: 0 = l2, 1 = l1.
        .def(py::init([](RowMajor x, int depth, int norm) {
                 if (x.ndim() != 2) throw std::invalid_argument("x must have shape (n, d)");
                 if (norm != 0 && norm != 1) throw std::invalid_argument("norm must be 0 (l2) or 1 (l1)");
                 return PlaneFamily(x.data(), x.shape(0), static_cast<int>(x.shape(1)), depth,
                                    static_cast<netmirror::PlaneNorm>(norm));
             }),
             py::arg("x"), py::arg("depth"), py::arg("norm") = 0)
        .def_property_readonly("size", &PlaneFamily::size)
        .def_property_readonly("planes", &PlaneFamily::planes)
        .def_property_readonly("modes", &PlaneFamily::modes)
        .def_property_readonly("extra_lines", &PlaneFamily::extra_lines)
        .def_property_readonly("n", &PlaneFamily::n)
        .def_property_readonly("dim", &PlaneFamily::dim)
        .def_static("count_fold_directions", [](int64_t n, int d, int depth, int norm) {
            return static_cast<int64_t>(PlaneFamily::count_fold_directions(static_cast<uint64_t>(n), d, depth,
                                                                           static_cast<netmirror::PlaneNorm>(norm)));
        })
        // d = 2 fold line e (index past the planes' features): (data point i, 1-D type r1, coefficients and data
        // indices of its breakpoint point's slots).
        .def("fold_line", [](const PlaneFamily& f, int64_t e) {
            const auto line = f.fold_line(e);
            const int H = f.depth() - 1;
            py::list coef, slots;
            for (int s = 0; s < H; ++s) {
                coef.append(line.coef[static_cast<size_t>(s)]);
                slots.append(line.slots[static_cast<size_t>(s)]);
            }
            return py::make_tuple(line.i, line.type, py::tuple(coef), py::tuple(slots));
        })
        .def_static("count_planes", [](int64_t n, int d, int norm) {
            return static_cast<int64_t>(
                PlaneFamily::count_planes(static_cast<uint64_t>(n), d, static_cast<netmirror::PlaneNorm>(norm)));
        })
        .def("default_tolerance", [](const PlaneFamily& f) { return netmirror::default_plane_tolerance(f); })
        .def("nondegenerate", [](const PlaneFamily& f) { return to_index_array(f.nondegenerate()); })
        .def("deduplicate",
             [](const PlaneFamily& f, double tol, double max_bytes) {
                 std::vector<int64_t> kept;
                 const size_t limit = max_bytes >= 1.8e19 ? std::numeric_limits<size_t>::max()
                                                          : static_cast<size_t>(max_bytes);
                 {
                     py::gil_scoped_release release;
                     kept = netmirror::deduplicate(f, tol, netmirror::default_num_threads(), limit);
                 }
                 return to_index_array(kept);
             },
             py::arg("tol"), py::arg("max_bytes") = 1.8e19)
        // Planes of the given raw features: (normals (k, d), point indices (k, d; -1 pads), coordinate subspaces
        // (k, d; -1 pads), 1-D raw index r1 (k,)).
        .def("decode", [](const PlaneFamily& f, IndexArray raw) {
            const py::ssize_t k = raw.size(), d = f.dim();
            py::array_t<double> normals({k, d});
            py::array_t<int32_t> points({k, d}), coords({k, d});
            py::array_t<int64_t> inner(k);
            auto N = normals.mutable_unchecked<2>();
            auto P = points.mutable_unchecked<2>();
            auto C = coords.mutable_unchecked<2>();
            const int64_t* r = raw.data();
            for (py::ssize_t c = 0; c < k; ++c) {
                if (r[c] < 0 || r[c] >= f.size()) throw std::out_of_range("raw feature index out of range");
                const int64_t p = f.plane_of(r[c]);
                for (py::ssize_t j = 0; j < d; ++j) {
                    N(c, j) = f.normal(p)[j];
                    P(c, j) = f.points(p)[j];
                    C(c, j) = f.coords(p)[j];
                }
                inner.mutable_at(c) = f.inner_of(r[c]);
            }
            return py::make_tuple(normals, points, coords, inner);
        })
        // out: preallocated Fortran-ordered (m, ncols) float32/float64; raw: None or kept indices; t: (m, d).
        .def("assemble",
             [](const PlaneFamily& f, py::object raw, RowMajor t, py::array out) {
                 const int64_t m = out.shape(0), ncols = out.shape(1);
                 if (t.ndim() != 2 || t.shape(0) != m || t.shape(1) != f.dim())
                     throw std::invalid_argument("t must have shape (m, d) matching out");
                 IndexArray raw_arr;
                 const int64_t* rp = nullptr;
                 if (!raw.is_none()) {
                     raw_arr = raw.cast<IndexArray>();
                     rp = raw_arr.data();
                 }
                 if (py::isinstance<py::array_t<float>>(out))
                     assemble_into<float>(f, rp, ncols, t.data(), m, out);
                 else
                     assemble_into<double>(f, rp, ncols, t.data(), m, out);
             },
             py::arg("raw"), py::arg("t"), py::arg("out"));
}

// Bindings for feature libraries: enumeration, deduplication and dictionary assembly.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <netmirror/dedup.hpp>
#include <netmirror/dictionary.hpp>
#include <netmirror/libraries.hpp>

#include "common.hpp"

namespace py = pybind11;
using netmirror::Family;
using netmirror::FamilySpec;
using DoubleArray = nm_bind::DoubleVector;
using nm_bind::IndexArray;

namespace {

FamilySpec make_spec(int activation, int architecture, int depth, double slope, int64_t switches, int input_dim) {
    FamilySpec s;
    s.activation = static_cast<netmirror::Activation>(activation);
    s.architecture = static_cast<netmirror::Architecture>(architecture);
    s.depth = depth;
    s.slope = slope;
    s.switches = switches;
    s.input_dim = input_dim;
    return s;
}

template <class T>
void assemble_into(const Family& f, const int64_t* raw, int64_t ncols, const double* t, int64_t m, py::array& out) {
    T* dst = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    netmirror::assemble<T>(f, raw, ncols, t, m, dst);
}

}  // namespace

void register_libraries(py::module_& m) {
    py::class_<Family>(m, "Family")
        .def(py::init([](DoubleArray x, int activation, int architecture, int depth, double slope, int64_t switches) {
                 const int input_dim = x.ndim() == 2 ? static_cast<int>(x.shape(1)) : 1;
                 const int64_t n = x.ndim() == 2 ? x.shape(0) : x.size();
                 return Family(x.data(), n, make_spec(activation, architecture, depth, slope, switches, input_dim));
             }),
             py::arg("x"), py::arg("activation"), py::arg("architecture"), py::arg("depth"), py::arg("slope"),
             py::arg("switches"))
        .def_property_readonly("size", &Family::size)
        .def_property_readonly("n", &Family::n)
        .def_static("compute_size",
                    [](int64_t n, int activation, int architecture, int depth, int64_t switches, int input_dim) {
                        return static_cast<int64_t>(Family::compute_size(
                            make_spec(activation, architecture, depth, 0.0, switches, input_dim), n));
                    })
        .def("default_tolerance", [](const Family& f) { return netmirror::default_dedup_tolerance(f); })
        .def("deduplicate",
             [](const Family& f, double tol, bool intercept, double max_bytes) {
                 std::vector<int64_t> kept;
                 const size_t limit = max_bytes >= 1.8e19 ? std::numeric_limits<size_t>::max()
                                                          : static_cast<size_t>(max_bytes);
                 {
                     py::gil_scoped_release release;
                     kept = netmirror::deduplicate(f, tol, intercept, netmirror::default_num_threads(), limit);
                 }
                 py::array_t<int64_t> out(static_cast<py::ssize_t>(kept.size()));
                 std::copy(kept.begin(), kept.end(), out.mutable_data());
                 return out;
             },
             py::arg("tol"), py::arg("intercept"), py::arg("max_bytes") = 1.8e19)
        // out: preallocated Fortran-ordered (m, ncols) float32/float64 array; raw: None or kept indices.
        .def("assemble",
             [](const Family& f, py::object raw, DoubleArray t, py::array out) {
                 const int64_t m = out.shape(0), ncols = out.shape(1);
                 IndexArray raw_arr;
                 const int64_t* rp = nullptr;
                 if (!raw.is_none()) {
                     raw_arr = raw.cast<IndexArray>();
                     rp = raw_arr.data();
                 }
                 if (out.dtype().is(py::dtype::of<float>()))
                     assemble_into<float>(f, rp, ncols, t.data(), m, out);
                 else
                     assemble_into<double>(f, rp, ncols, t.data(), m, out);
             },
             py::arg("raw"), py::arg("t"), py::arg("out"))
        // Decoded parameters of the given raw features, as columns for a structured array.
        .def("decode", [](const Family& f, IndexArray raw) {
            const py::ssize_t k = raw.size();
            py::array_t<int8_t> kind(k), layers(k), reflected(k), midpoint(k), pattern(k);
            py::array_t<int8_t> signs({k, py::ssize_t(4)});
            py::array_t<double> a1(k), anchors({k, py::ssize_t(4)}), levels({k, py::ssize_t(4)});
            py::array_t<int8_t> partners({k, py::ssize_t(4)});
            py::array_t<int32_t> index({k, py::ssize_t(4)});
            py::list thresholds;
            auto S = signs.mutable_unchecked<2>();
            auto A = anchors.mutable_unchecked<2>();
            auto I = index.mutable_unchecked<2>();
            auto V = levels.mutable_unchecked<2>();
            auto P = partners.mutable_unchecked<2>();
            const int64_t* r = raw.data();
            for (py::ssize_t c = 0; c < k; ++c) {
                const netmirror::Feature ft = f.feature(r[c]);
                kind.mutable_at(c) = static_cast<int8_t>(ft.kind);
                layers.mutable_at(c) = static_cast<int8_t>(ft.layers);
                reflected.mutable_at(c) = ft.reflected ? 1 : 0;
                midpoint.mutable_at(c) = ft.midpoint ? 1 : 0;
                pattern.mutable_at(c) = static_cast<int8_t>(ft.pattern);
                a1.mutable_at(c) = ft.a1;
                for (int i = 0; i < 4; ++i) {
                    S(c, i) = static_cast<int8_t>(ft.sign[i]);
                    A(c, i) = ft.anchor[i];
                    I(c, i) = ft.index[i];
                    V(c, i) = ft.level[i];
                    P(c, i) = static_cast<int8_t>(ft.partner[i]);
                }
                if (ft.kind == netmirror::FeatureKind::switching) thresholds.append(py::cast(ft.thresholds));
            }
            return py::make_tuple(kind, layers, signs, a1, anchors, index, reflected, midpoint, thresholds, levels,
                                  partners, pattern);
        });
}

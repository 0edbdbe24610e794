// Bindings for feature libraries: enumeration, deduplication and dictionary assembly. Long deduplications
// and assemblies run watched (common.hpp): Ctrl-C stops them with a KeyboardInterrupt.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <numeric>
#include <vector>

#include <netmirror/dedup.hpp>
#include <netmirror/dictionary.hpp>
#include <netmirror/libraries.hpp>
#include <netmirror/oracles.hpp>

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

// Work (columns x points) above which a kernel runs watched: below it a call takes well under 50 ms.
constexpr double kWatchWork = 1 << 22;

// Assembles in blocks of columns so that a raised `stop` ends the work within one block; a stopped
// assembly leaves `out` partly written.
template <class T>
bool assemble_into(const Family& f, const int64_t* raw, int64_t ncols, const double* t, int64_t m, py::array& out) {
    T* dst = static_cast<T*>(out.mutable_data());
    const int threads = netmirror::default_num_threads();
    const int64_t block = std::max<int64_t>(64 * threads, (int64_t(1) << 20) / std::max<int64_t>(m, 1));
    std::atomic<bool> stop{false};
    const auto work = [&] {
        std::vector<int64_t> ids;  // raw == nullptr is the identity selection: give each block its indices
        for (int64_t c0 = 0; c0 < ncols; c0 += block) {
            if (stop.load(std::memory_order_relaxed)) throw netmirror::Interrupted();
            const int64_t c1 = std::min(ncols, c0 + block);
            const int64_t* r = raw ? raw + c0 : nullptr;
            if (!raw && c0 > 0) {
                ids.resize(static_cast<size_t>(c1 - c0));
                std::iota(ids.begin(), ids.end(), c0);
                r = ids.data();
            }
            netmirror::assemble<T>(f, r, c1 - c0, t, m, dst + c0 * m, threads);
        }
    };
    return nm_bind::run_released(work, stop, static_cast<double>(ncols) * static_cast<double>(m) > kWatchWork);
}

}  // namespace

void register_libraries(py::module_& m) {
    m.def(
        "relu_depth3_max_correlation",
        [](nm_bind::DoubleVector x, nm_bind::DoubleVector theta) {
            if (x.ndim() != 1 || theta.ndim() != 1 || x.size() != theta.size())
                throw std::invalid_argument("x and theta must be 1-D of the same length");
            netmirror::OracleHit hit;
            {
                py::gil_scoped_release release;
                hit = netmirror::relu_depth3_max_correlation(x.data(), theta.data(), x.size());
            }
            return py::make_tuple(hit.value, hit.kind, hit.a, hit.b);
        },
        py::arg("x"), py::arg("theta"),
        "max over the ReLU depth-3 library on x of |a_j^T P theta| without enumerating it: (value, kind, a, b), "
        "kind 0: (x - a)_+, 1: (a - x)_+, 2: capped ramp between a < b.");
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
                 std::atomic<bool> stop{false};
                 const auto work = [&] {
                     kept = netmirror::deduplicate(f, tol, intercept, netmirror::default_num_threads(), limit, &stop);
                 };
                 const double cost = static_cast<double>(f.size()) * static_cast<double>(f.n());
                 if (nm_bind::run_released(work, stop, cost > kWatchWork)) nm_bind::raise_keyboard_interrupt();
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
                 const bool interrupted = py::isinstance<py::array_t<float>>(out)
                                              ? assemble_into<float>(f, rp, ncols, t.data(), m, out)
                                              : assemble_into<double>(f, rp, ncols, t.data(), m, out);
                 if (interrupted) nm_bind::raise_keyboard_interrupt();
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

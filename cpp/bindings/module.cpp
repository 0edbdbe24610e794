// netmirror._core: one registration function per concern, each in its own file.
#include <pybind11/pybind11.h>

#include "common.hpp"

namespace py = pybind11;

void register_libraries(py::module_& m);
void register_lasso(py::module_& m);
void register_implicit(py::module_& m);
void register_covariance(py::module_& m);
void register_reflection_planes(py::module_& m);
void register_convex_relu(py::module_& m);

PYBIND11_MODULE(_core, m) {
    m.doc() = "netmirror C++ kernels (inputs are validated once, in the Python layer)";
    nm_bind::register_error_translators();  // std::bad_alloc -> a MemoryError that says what to do
    register_libraries(m);
    register_lasso(m);
    register_implicit(m);
    register_covariance(m);
    register_reflection_planes(m);
    register_convex_relu(m);
}

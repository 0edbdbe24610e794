// Umbrella header of the netmirror C++ core.
#pragma once
#include "activation.hpp"
#include "convex_relu.hpp"
#include "covariance.hpp"
#include "dedup.hpp"
#include "dictionary.hpp"
#include "implicit.hpp"
#include "lasso.hpp"
#include "libraries.hpp"
#include "linalg.hpp"
#include "matrix.hpp"
#include "parallel.hpp"

// Umbrella header of the netmirror C++ core.
#pragma once
#include "activation.hpp"
#include "dedup.hpp"
#include "dictionary.hpp"
#include "libraries.hpp"
#include "parallel.hpp"

// placeholder: being written
#include "common/error.h"
#include "placement/algorithm.h"

namespace epbench {
Layout place_exact(const PlacementInput&) { throw InputError("--algo: not implemented yet"); }
}  // namespace epbench

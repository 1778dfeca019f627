// placeholder: being written
#include "common/error.h"
#include "placement/algorithm.h"

namespace epbench {
Layout place_round_robin(const PlacementInput&) { throw InputError("--algo: not implemented yet"); }
}  // namespace epbench

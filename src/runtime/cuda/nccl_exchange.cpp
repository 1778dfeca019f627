// Placeholder until the NCCL exchange lands.
#include "runtime/exchange.h"
namespace epbench {
std::unique_ptr<Exchange> make_nccl_exchange(MPI_Comm, int) { return nullptr; }
}  // namespace epbench

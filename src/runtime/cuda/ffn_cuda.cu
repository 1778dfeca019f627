// Placeholder until the CUDA backend lands.
#include "runtime/ffn_backend.h"
namespace epbench {
std::unique_ptr<FfnBackend> make_cuda_backend(int, int, size_t, int, bool) { return nullptr; }
}  // namespace epbench

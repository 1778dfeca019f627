// The host all-to-all: MPI_Alltoallv on bytes.
#include <climits>
#include <stdexcept>

#include "runtime/exchange.h"
#include "runtime/mpi_env.h"

namespace epbench {

namespace {

class MpiExchange final : public Exchange {
 public:
  explicit MpiExchange(MPI_Comm comm) : comm_(comm) {
    int size = 1;
    MPI_Comm_size(comm, &size);
    const size_t n = static_cast<size_t>(size);
    sc_.resize(n), sd_.resize(n), rc_.resize(n), rd_.resize(n);
  }
  std::string name() const override { return "mpi"; }

  void alltoallv(const void* send, const std::vector<size_t>& send_bytes,
                 const std::vector<size_t>& send_off, void* recv,
                 const std::vector<size_t>& recv_bytes,
                 const std::vector<size_t>& recv_off) override {
    for (size_t p = 0; p < sc_.size(); ++p) {
      sc_[p] = to_int(send_bytes[p]), sd_[p] = to_int(send_off[p]);
      rc_[p] = to_int(recv_bytes[p]), rd_[p] = to_int(recv_off[p]);
    }
    EPBENCH_MPI_CHECK(MPI_Alltoallv(send, sc_.data(), sd_.data(), MPI_BYTE, recv, rc_.data(),
                                    rd_.data(), MPI_BYTE, comm_));
  }

 private:
  // MPI-3 counts are int: larger exchanges would need MPI-4's Alltoallv_c.
  static int to_int(size_t v) {
    if (v > static_cast<size_t>(INT_MAX))
      throw std::runtime_error("all-to-all of " + std::to_string(v) +
                               " bytes exceeds MPI's int counts; use fewer tokens per step");
    return static_cast<int>(v);
  }
  MPI_Comm comm_;
  std::vector<int> sc_, sd_, rc_, rd_;
};

}  // namespace

std::unique_ptr<Exchange> make_mpi_exchange(MPI_Comm comm) {
  return std::make_unique<MpiExchange>(comm);
}

}  // namespace epbench

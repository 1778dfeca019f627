#pragma once
// The all-to-all that moves hidden states (dispatch) and partial sums (combine): one file per
// implementation. Offsets and sizes are bytes; rank p's part of send starts at send_off[p].
#include <mpi.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace epbench {

class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual std::string name() const = 0;
  // Collective: sends send_bytes[p] bytes from send + send_off[p] to rank p and receives
  // recv_bytes[p] bytes from p into recv + recv_off[p]; host memory on both sides.
  virtual void alltoallv(const void* send, const std::vector<size_t>& send_bytes,
                         const std::vector<size_t>& send_off, void* recv,
                         const std::vector<size_t>& recv_bytes,
                         const std::vector<size_t>& recv_off) = 0;
  // Grows any staging so that calls moving up to `send` and `recv` bytes do not allocate.
  virtual void reserve_bytes(size_t send, size_t recv) { (void)send, (void)recv; }
};

// MPI_Alltoallv over comm (byte counts must fit in int; std::runtime_error otherwise).
std::unique_ptr<Exchange> make_mpi_exchange(MPI_Comm comm);

// NCCL grouped ncclSend/ncclRecv on CUDA device `device`, staged through device buffers; the
// communicator is built from comm (unique id broadcast over MPI). Throws std::runtime_error
// "no GPU: ..." or "built without NCCL" when it cannot run.
std::unique_ptr<Exchange> make_nccl_exchange(MPI_Comm comm, int device);

}  // namespace epbench

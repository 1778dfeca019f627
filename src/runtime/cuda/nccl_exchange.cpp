// The GPU all-to-all: grouped ncclSend/ncclRecv, as NCCL has no alltoallv. Rows arrive in host
// memory (the runtime's interface), so each call stages them through device buffers; the
// copies are part of what this exchange costs.
#include <cuda_runtime.h>
#include <nccl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/device_allocations.h"
#include "runtime/exchange.h"
#include "runtime/mpi_env.h"

#define EPBENCH_CUDA_CHECK(call) check_cuda((call), #call, __FILE__, __LINE__)
#define EPBENCH_NCCL_CHECK(call) check_nccl((call), #call, __FILE__, __LINE__)

namespace epbench {

namespace {

std::string where(const char* call, const char* file, int line) {
  return std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: ";
}

void check_cuda(cudaError_t rc, const char* call, const char* file, int line) {
  if (rc != cudaSuccess) throw std::runtime_error(where(call, file, line) + cudaGetErrorString(rc));
}

void check_nccl(ncclResult_t rc, const char* call, const char* file, int line) {
  if (rc != ncclSuccess) throw std::runtime_error(where(call, file, line) + ncclGetErrorString(rc));
}

// Device bytes that only grow.
class DeviceBytes {
 public:
  DeviceBytes() = default;
  ~DeviceBytes() { release(); }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  char* reserve(size_t bytes) {
    if (bytes > bytes_) {
      release();
      note_device_allocation();
      EPBENCH_CUDA_CHECK(cudaMalloc(&p_, bytes));
      bytes_ = bytes;
    }
    return static_cast<char*>(p_);
  }

 private:
  void release() {
    if (p_) {
      note_device_allocation();
      cudaFree(p_);
    }
    p_ = nullptr, bytes_ = 0;
  }
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// The extent of a buffer described by sizes and offsets.
size_t extent(const std::vector<size_t>& bytes, const std::vector<size_t>& off) {
  size_t end = 0;
  for (size_t p = 0; p < bytes.size(); ++p)
    if (bytes[p] > 0 && off[p] + bytes[p] > end) end = off[p] + bytes[p];
  return end;
}

// Collective. Inside agree(), so a failure on rank 0 stops every rank instead of leaving them
// waiting for an id that never comes.
ncclUniqueId broadcast_unique_id(MPI_Comm comm, int rank) {
  ncclUniqueId id{};
  agree(comm, [&] {
    if (rank == 0) EPBENCH_NCCL_CHECK(ncclGetUniqueId(&id));
  });
  EPBENCH_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm));
  return id;
}

class NcclExchange final : public Exchange {
 public:
  NcclExchange(MPI_Comm comm, int device) : device_(device) {
    MPI_Comm_rank(comm, &rank_);
    MPI_Comm_size(comm, &size_);
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    const ncclUniqueId id = broadcast_unique_id(comm, rank_);
    EPBENCH_CUDA_CHECK(cudaStreamCreate(&stream_));
    try {
      EPBENCH_NCCL_CHECK(ncclCommInitRank(&nccl_, size_, id, rank_));
    } catch (...) {
      cudaStreamDestroy(stream_);
      throw;
    }
    connect_all_pairs();
  }
  ~NcclExchange() override {
    ncclCommDestroy(nccl_);
    cudaStreamDestroy(stream_);
  }
  std::string name() const override { return "nccl"; }

  void reserve_bytes(size_t send, size_t recv) override {
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    send_buf_.reserve(send), recv_buf_.reserve(recv);
  }

  void alltoallv(const void* send, const std::vector<size_t>& send_bytes,
                 const std::vector<size_t>& send_off, void* recv,
                 const std::vector<size_t>& recv_bytes,
                 const std::vector<size_t>& recv_off) override {
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    const size_t send_len = extent(send_bytes, send_off), recv_len = extent(recv_bytes, recv_off);
    char* dsend = send_buf_.reserve(send_len);
    char* drecv = recv_buf_.reserve(recv_len);
    if (send_len > 0)
      EPBENCH_CUDA_CHECK(cudaMemcpyAsync(dsend, send, send_len, cudaMemcpyHostToDevice, stream_));
    exchange(dsend, send_bytes, send_off, drecv, recv_bytes, recv_off);
    if (recv_len > 0)
      EPBENCH_CUDA_CHECK(cudaMemcpyAsync(recv, drecv, recv_len, cudaMemcpyDeviceToHost, stream_));
    EPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream_));
    check_async();
  }

 private:
  // One group, so NCCL schedules all pairs together; peers with nothing to move are skipped.
  // NCCL connects a pair on its first transfer: one byte each way between every pair now, so
  // no connection is set up inside a measured step.
  void connect_all_pairs() {
    const auto P = static_cast<size_t>(size_);
    std::vector<size_t> bytes(P, 1), off(P);
    for (size_t q = 0; q < P; ++q) off[q] = q;
    bytes[static_cast<size_t>(rank_)] = 0;
    char* dsend = send_buf_.reserve(P);
    char* drecv = recv_buf_.reserve(P);
    exchange(dsend, bytes, off, drecv, bytes, off);
    EPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream_));
    check_async();
  }

  // A peer's failure surfaces here rather than as a hang in the next call.
  void check_async() {
    ncclResult_t async = ncclSuccess;
    EPBENCH_NCCL_CHECK(ncclCommGetAsyncError(nccl_, &async));
    EPBENCH_NCCL_CHECK(async);
  }

  void exchange(const char* dsend, const std::vector<size_t>& send_bytes,
                const std::vector<size_t>& send_off, char* drecv,
                const std::vector<size_t>& recv_bytes, const std::vector<size_t>& recv_off) {
    EPBENCH_NCCL_CHECK(ncclGroupStart());
    for (int p = 0; p < size_; ++p) {
      const auto q = static_cast<size_t>(p);
      if (send_bytes[q] > 0)
        EPBENCH_NCCL_CHECK(
            ncclSend(dsend + send_off[q], send_bytes[q], ncclUint8, p, nccl_, stream_));
      if (recv_bytes[q] > 0)
        EPBENCH_NCCL_CHECK(
            ncclRecv(drecv + recv_off[q], recv_bytes[q], ncclUint8, p, nccl_, stream_));
    }
    EPBENCH_NCCL_CHECK(ncclGroupEnd());
  }

  int device_, rank_ = 0, size_ = 1;
  cudaStream_t stream_ = nullptr;
  ncclComm_t nccl_ = nullptr;
  DeviceBytes send_buf_, recv_buf_;
};

// Why `device` is not a working CUDA device here ("" when it is).
std::string device_problem(int device) {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) return std::string("no GPU: ") + cudaGetErrorString(rc);
  if (device < 0 || device >= count)
    return "no GPU: device " + std::to_string(device) + " requested, " + std::to_string(count) +
           " visible";
  return "";
}

// Collective: every rank throws when any rank lacks its GPU (the lowest such rank's reason),
// so none is left waiting in the collectives of the constructor.
void require_devices(MPI_Comm comm, int device) {
  agree(comm, [&] {
    if (const std::string problem = device_problem(device); !problem.empty())
      throw std::runtime_error(problem);
  });
}

}  // namespace

std::unique_ptr<Exchange> make_nccl_exchange(MPI_Comm comm, int device) {
  require_devices(comm, device);
  return std::make_unique<NcclExchange>(comm, device);
}

}  // namespace epbench

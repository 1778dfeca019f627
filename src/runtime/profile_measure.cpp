#include "runtime/profile_measure.h"

#include <algorithm>
#include <cstdint>

#include "common/numeric.h"
#include "runtime/mpi_env.h"

namespace epbench {

double time_collective(MPI_Comm comm, int warmup, int reps, const std::function<void()>& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t(sz(reps));
  for (double& slowest : t) {
    EPBENCH_MPI_CHECK(MPI_Barrier(comm));
    const double start = MPI_Wtime();
    fn();
    double mine = MPI_Wtime() - start;
    EPBENCH_MPI_CHECK(MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm));
  }
  std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
  return t[sz(reps / 2)];
}

void measure_ffn(const ProfileOptions& o, FfnBackend& backend, MPI_Comm comm, Profile& p) {
  const size_t d = sz(o.d_model);
  std::vector<float> x(sz(o.max_tokens) * d), y(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 97) / 97.f - 0.5f;
  p.ffn_time_s.clear();
  // Each call runs the next weight set's experts, as each layer of a run has its own.
  const size_t sets = sz(weight_sets(o)), per_set = sz(o.max_active);
  size_t call = 0;
  for (int64_t a : p.ffn_active)
    for (int64_t n : p.ffn_tokens)
      p.ffn_time_s.push_back(time_collective(comm, o.warmup, o.repetitions, [&] {
        const size_t first = (call++ % sets) * per_set;
        for (size_t s = 0; s < static_cast<size_t>(a); ++s)
          backend.forward(first + s, x.data(), static_cast<size_t>(n), y.data());
      }));
}

namespace {

// Byte counts and offsets of one all-to-all: `bytes` to each rank `to` selects, else 0.
struct A2aBuffers {
  std::vector<size_t> send_bytes, send_off, recv_bytes, recv_off;
  void set(const std::vector<bool>& to, size_t bytes, size_t stride) {
    const size_t P = to.size();
    send_bytes.assign(P, 0), send_off.assign(P, 0), recv_bytes.assign(P, 0), recv_off.assign(P, 0);
    for (size_t q = 0; q < P; ++q) {
      send_bytes[q] = recv_bytes[q] = to[q] ? bytes : 0;  // patterns are symmetric
      send_off[q] = recv_off[q] = q * stride;
    }
  }
};

void measure_pattern(const ProfileOptions& o, Exchange& ex, const std::vector<bool>& to,
                     MPI_Comm comm, Profile& p) {
  const size_t P = to.size(), stride = static_cast<size_t>(p.a2a_bytes.back());
  std::vector<uint8_t> send(P * stride, 1), recv(P * stride);
  A2aBuffers b;
  for (int64_t bytes : p.a2a_bytes) {
    b.set(to, static_cast<size_t>(bytes), stride);
    p.a2a_time_s.push_back(time_collective(comm, o.warmup, o.repetitions, [&] {
      ex.alltoallv(send.data(), b.send_bytes, b.send_off, recv.data(), b.recv_bytes, b.recv_off);
    }));
  }
}

}  // namespace

void measure_a2a(const ProfileOptions& o, Exchange& exchange, const std::vector<int>& node,
                 MPI_Comm comm, Profile& p) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const size_t P = node.size();
  for (const char* pattern : {kPatternSameNode, kPatternOtherNode}) {
    const bool same = pattern == std::string(kPatternSameNode);
    std::vector<bool> to(P);
    int64_t dests = 0;
    for (size_t q = 0; q < P; ++q) {
      to[q] = static_cast<int>(q) != rank && (node[q] == node[sz(rank)]) == same;
      dests += to[q];
    }
    // Every rank of a job has the same count (nodes of equal size): skip empty patterns.
    if (dests == 0) continue;
    p.a2a_patterns.push_back(pattern);
    p.a2a_destinations.push_back(dests);
    measure_pattern(o, exchange, to, comm, p);
  }
  // The dispatch's count exchange (runtime/moe_layer.cpp): one uint64 to every rank.
  std::vector<uint64_t> counts(P, 1), got(P);
  p.count_exchange_s = time_collective(comm, o.warmup, o.repetitions, [&] {
    EPBENCH_MPI_CHECK(
        MPI_Alltoall(counts.data(), 1, MPI_UINT64_T, got.data(), 1, MPI_UINT64_T, comm));
  });
}

}  // namespace epbench

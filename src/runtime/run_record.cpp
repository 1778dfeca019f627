#include "runtime/run_record.h"

#include <algorithm>
#include <cmath>

#include "common/numeric.h"
#include "runtime/mpi_env.h"

namespace epbench {

namespace {

// Gathers one field of every rank's [S * L] measures into a [S, L, G] cube on rank 0.
template <class T, class Field>
std::vector<T> gather_cube(MPI_Comm comm, const RankRecord& mine, MPI_Datatype type, Field field) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const size_t cells = mine.measures.size(), G = sz(size);
  std::vector<T> local(cells), all(rank == 0 ? cells * G : 0), cube(rank == 0 ? cells * G : 0);
  for (size_t i = 0; i < cells; ++i) local[i] = field(mine.measures[i]);
  EPBENCH_MPI_CHECK(MPI_Gather(local.data(), static_cast<int>(cells), type, all.data(),
                               static_cast<int>(cells), type, 0, comm));
  for (size_t g = 0; g < cube.size() / std::max<size_t>(cells, 1); ++g)
    for (size_t i = 0; i < cells; ++i) cube[i * G + g] = all[g * cells + i];
  return cube;
}

}  // namespace

void gather_record(MPI_Comm comm, const RankRecord& mine, MeasuredConfig& out) {
  ConfigResult& m = out.measured;
  m.steps = mine.steps, m.layers = mine.layers, m.experts = mine.experts;
  int size = 1;
  MPI_Comm_size(comm, &size);
  m.gpus = sz(size);
  using M = const LayerMeasure&;
  m.dispatch = gather_cube<double>(comm, mine, MPI_DOUBLE, [](M x) { return x.dispatch; });
  m.compute = gather_cube<double>(comm, mine, MPI_DOUBLE, [](M x) { return x.compute; });
  m.combine = gather_cube<double>(comm, mine, MPI_DOUBLE, [](M x) { return x.combine; });
  m.bytes_same_node =
      gather_cube<uint64_t>(comm, mine, MPI_UINT64_T, [](M x) { return x.bytes_same_node; });
  m.bytes_other_node =
      gather_cube<uint64_t>(comm, mine, MPI_UINT64_T, [](M x) { return x.bytes_other_node; });
  m.tokens_per_gpu = gather_cube<uint32_t>(comm, mine, MPI_UINT32_T, [](M x) { return x.pairs; });
  m.experts_active = gather_cube<uint32_t>(comm, mine, MPI_UINT32_T, [](M x) { return x.active; });
  out.raw_alltoallv =
      gather_cube<double>(comm, mine, MPI_DOUBLE, [](M x) { return x.raw_alltoallv; });
  out.raw_gemm = gather_cube<double>(comm, mine, MPI_DOUBLE, [](M x) { return x.raw_gemm; });
  out.count_exchange =
      gather_cube<double>(comm, mine, MPI_DOUBLE, [](M x) { return x.count_exchange; });
  out.bench_exchange =
      gather_cube<double>(comm, mine, MPI_DOUBLE, [](M x) { return x.bench_exchange; });
  out.bench_count_exchange =
      gather_cube<double>(comm, mine, MPI_DOUBLE, [](M x) { return x.bench_count_exchange; });
  m.tokens_per_expert.assign(mine.per_expert.size(), 0);
  EPBENCH_MPI_CHECK(MPI_Reduce(mine.per_expert.data(), m.tokens_per_expert.data(),
                               static_cast<int>(mine.per_expert.size()), MPI_UINT64_T, MPI_SUM, 0,
                               comm));
  EPBENCH_MPI_CHECK(
      MPI_Reduce(&mine.checked_tokens, &out.checked_tokens, 1, MPI_UINT64_T, MPI_SUM, 0, comm));
  EPBENCH_MPI_CHECK(
      MPI_Reduce(&mine.check_max_error, &out.check_max_error, 1, MPI_DOUBLE, MPI_MAX, 0, comm));
}

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  return v[mid];
}

}  // namespace

// Overheads are medians over (step, layer) of ours over the baseline, both timed the same way
// right after the layer (MoeLayerRunner::run_baseline): on a shared machine a preempted rank
// inflates single layers by milliseconds, which a ratio of sums would charge to either side.
void finish_measured(MeasuredConfig& r) {
  ConfigResult& m = r.measured;
  const size_t G = m.gpus, L = m.layers;
  m.step_time.assign(m.steps, 0);
  std::vector<double> comm_ratio, bare_ratio, gemm_ratio;
  double error = 0;
  for (size_t s = 0; s < m.steps; ++s) {
    for (size_t l = 0; l < L; ++l) {
      const PhaseTimes slowest = layer_phase_max(m, s, l);
      m.step_time[s] += slowest.total();
      const size_t at = (s * L + l) * G;
      double comm = 0, bare = 0, ra = 0, rg = 0;
      for (size_t g = at; g < at + G; ++g) {
        comm = std::max(comm, r.bench_exchange[g]);
        bare = std::max(bare, r.bench_exchange[g] - r.bench_count_exchange[g]);
        ra = std::max(ra, r.raw_alltoallv[g]), rg = std::max(rg, r.raw_gemm[g]);
      }
      if (ra > 0) comm_ratio.push_back(comm / ra), bare_ratio.push_back(bare / ra);
      if (rg > 0) gemm_ratio.push_back(slowest.compute / rg);
    }
    const double p = r.predicted.step_time.empty() ? 0 : r.predicted.step_time[s];
    if (m.step_time[s] > 0) error += std::abs(p - m.step_time[s]) / m.step_time[s];
  }
  r.overhead_alltoallv = median(std::move(comm_ratio));
  r.overhead_alltoallv_no_counts = median(std::move(bare_ratio));
  r.overhead_gemm = median(std::move(gemm_ratio));
  r.model_error = m.steps ? error / dbl(m.steps) : 0;
}

}  // namespace epbench

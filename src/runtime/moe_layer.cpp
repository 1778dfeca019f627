#include "runtime/moe_layer.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "common/numeric.h"
#include "results/summary.h"
#include "runtime/device_allocations.h"
#include "runtime/mpi_env.h"

namespace epbench {

MoeLayerRunner::MoeLayerRunner(MPI_Comm comm, Exchange& exchange, FfnBackend& backend, DType dtype,
                               int d_model, std::vector<int> node_of)
    : comm_(comm),
      exchange_(exchange),
      backend_(backend),
      dtype_(dtype),
      d_(sz(d_model)),
      row_bytes_(sz(d_model) * dtype_bytes(dtype)),
      node_of_(std::move(node_of)) {
  MPI_Comm_rank(comm, &rank_);
  const size_t P = node_of_.size();
  for (auto* v : {&send_bytes_, &send_off_, &recv_bytes_, &recv_off_}) v->assign(P, 0);
  count_send_.assign(P, 0), count_recv_.assign(P, 0);
}

void MoeLayerRunner::set_sizes(const DispatchPlan& plan) {
  make_pack_plan(plan, pack_);
  for (size_t p = 0; p < node_of_.size(); ++p) {
    send_bytes_[p] = plan.sent_to(static_cast<int>(p)) * row_bytes_;
    send_off_[p] = plan.send_off[p] * row_bytes_;
    recv_bytes_[p] = plan.received_from(static_cast<int>(p)) * row_bytes_;
    recv_off_[p] = plan.recv_off[p] * row_bytes_;
  }
  const size_t most = std::max(plan.send_tokens.size(), plan.received()) * row_bytes_;
  if (send_buf_.size() < most) send_buf_.resize(most), recv_buf_.resize(most);
  work_.resize(plan.work_rows() * d_);
  out_.resize(plan.work_rows() * d_);
}

// A real dispatcher does not know what it will receive: the counts go first, and the plan's
// expectation (from the replayed routing) must agree with them.
void MoeLayerRunner::exchange_counts(const DispatchPlan& plan) {
  for (size_t p = 0; p < count_send_.size(); ++p)
    count_send_[p] = plan.sent_to(static_cast<int>(p));
  EPBENCH_MPI_CHECK(MPI_Alltoall(count_send_.data(), 1, MPI_UINT64_T, count_recv_.data(), 1,
                                 MPI_UINT64_T, comm_));
  for (size_t q = 0; q < count_recv_.size(); ++q)
    if (count_recv_[q] != plan.received_from(static_cast<int>(q)))
      throw std::runtime_error("rank " + std::to_string(rank_) + ": rank " + std::to_string(q) +
                               " announced " + std::to_string(count_recv_[q]) +
                               " tokens, the replayed routing expects " +
                               std::to_string(plan.received_from(static_cast<int>(q))));
}

void MoeLayerRunner::dispatch(const DispatchPlan& plan, const float* x, LayerMeasure& m) {
  pack_rows(dtype_, x, pack_.send_src.data(), pack_.send_src.size(), d_, send_buf_.data());
  // Timed apart: a dispatcher that knows the counts (a fixed capacity, or counts sent with the
  // data) does not pay this collective, so the overhead is reported with and without it.
  const double t = MPI_Wtime();
  exchange_counts(plan);
  m.count_exchange += MPI_Wtime() - t;
  // fp32 rows arrive where the experts read them; other types are decoded from a buffer.
  unsigned char* into =
      wire_is_fp32() ? reinterpret_cast<unsigned char*>(work_.data()) : recv_buf_.data();
  exchange_.alltoallv(send_buf_.data(), send_bytes_, send_off_, into, recv_bytes_, recv_off_);
  if (!wire_is_fp32()) decode_rows(dtype_, recv_buf_.data(), plan.received() * d_, work_.data());
  gather_rows(x, pack_.local_src.data(), pack_.local_src.size(), d_,
              work_.data() + plan.received() * d_);
}

void MoeLayerRunner::compute(const DispatchPlan& plan, size_t shard0, LayerMeasure& m) {
  const ExpertCounts c =
      run_experts(backend_, plan, shard0, work_.data(), d_, out_.data(), scratch_);
  m.pairs += c.pairs, m.active += c.active;
  if (fault_ == PlantedFault::kZeroRank && rank_ == kPlantedZeroRank)
    std::fill(out_.begin(), out_.end(), 0.f);
}

// The partial sums travel back along the dispatch's path: what was received is sent.
void MoeLayerRunner::combine(const DispatchPlan& plan, float* y) {
  // fp32 partial sums leave from where the experts wrote them.
  const unsigned char* from = reinterpret_cast<const unsigned char*>(out_.data());
  if (!wire_is_fp32()) {
    encode_rows(dtype_, out_.data(), plan.received() * d_, recv_buf_.data());
    from = recv_buf_.data();
  }
  exchange_.alltoallv(from, recv_bytes_, recv_off_, send_buf_.data(), send_bytes_, send_off_);
  std::fill(y, y + plan.home_tokens.size() * d_, 0.f);
  scatter_add_rows(out_.data() + plan.received() * d_, pack_.local_src.data(),
                   pack_.local_src.size(), d_, y);
  // drop-partial leaves out home rank 0's first partial sum from another rank.
  const size_t returned = pack_.send_src.size();
  const size_t first = fault_ == PlantedFault::kDropPartial && rank_ == 0 && returned > 0 ? 1 : 0;
  add_back_rows(dtype_, send_buf_.data() + first * row_bytes_, pack_.send_src.data() + first,
                returned - first, d_, y);
  if (fault_ == PlantedFault::kScale1pct)
    for (size_t i = 0; i < plan.home_tokens.size() * d_; ++i) y[i] *= 1.01f;
}

void MoeLayerRunner::count_bytes(const DispatchPlan& plan, LayerMeasure& m) const {
  const int mine = node_of_[sz(rank_)];
  for (size_t p = 0; p < node_of_.size(); ++p) {
    // Dispatch sends our tokens to p; the combine returns what p sent us.
    const uint64_t rows =
        plan.sent_to(static_cast<int>(p)) + plan.received_from(static_cast<int>(p));
    (node_of_[p] == mine ? m.bytes_same_node : m.bytes_other_node) += rows * row_bytes_;
  }
}

void MoeLayerRunner::reserve(size_t tokens, int top_k) {
  // An expert computes each token at most once, so a rank's experts at most top_k times (its
  // grouped call's rows); a rank receives each token at most once and sends each of its tokens
  // to at most top_k ranks (the combine reverses both).
  const size_t k = sz(std::max(1, top_k));
  const size_t most = tokens * k * row_bytes_;
  backend_.reserve_rows(tokens * k);
  exchange_.reserve_bytes(most, most);
}

void MoeLayerRunner::run(const DispatchPlan& plan, size_t shard0, const float* x, float* y,
                         LayerMeasure& m) {
  set_sizes(plan);
  count_bytes(plan, m);
  EPBENCH_MPI_CHECK(MPI_Barrier(comm_));
  const NoDeviceAllocations timed;
  const double t0 = MPI_Wtime();
  dispatch(plan, x, m);
  const double t1 = MPI_Wtime();
  compute(plan, shard0, m);
  const double t2 = MPI_Wtime();
  EPBENCH_MPI_CHECK(MPI_Barrier(comm_));  // the combine starts when every expert is done
  const double t3 = MPI_Wtime();
  combine(plan, y);
  const double t4 = MPI_Wtime();
  m.dispatch += t1 - t0, m.compute += t2 - t1, m.combine += t4 - t3;
  timed.check("layer (dispatch, compute, combine)");
}

// OSU-style: `reps` repetitions of each side, alternating, each started by a barrier and timed
// on this rank; both run on the buffers the step just used, so both find them in cache (hot).
// Our side is the whole dispatch + combine without the expert compute between them; the raw
// side is the two bare all-to-alls of the same byte matrices. Medians are kept.
void MoeLayerRunner::run_baseline(const DispatchPlan& plan, size_t shard0, const float* x, float* y,
                                  int reps, LayerMeasure& m) {
  ours_.assign(sz(reps), 0), counts_.assign(sz(reps), 0), raw_.assign(sz(reps), 0);
  const NoDeviceAllocations timed;
  for (size_t r = 0; r < ours_.size(); ++r) {
    LayerMeasure scratch;
    EPBENCH_MPI_CHECK(MPI_Barrier(comm_));
    double t = MPI_Wtime();
    dispatch(plan, x, scratch);
    combine(plan, y);
    ours_[r] = MPI_Wtime() - t, counts_[r] = scratch.count_exchange;
    EPBENCH_MPI_CHECK(MPI_Barrier(comm_));
    t = MPI_Wtime();
    exchange_.alltoallv(send_buf_.data(), send_bytes_, send_off_, recv_buf_.data(), recv_bytes_,
                        recv_off_);
    exchange_.alltoallv(recv_buf_.data(), recv_bytes_, recv_off_, send_buf_.data(), send_bytes_,
                        send_off_);
    raw_[r] = MPI_Wtime() - t;
  }
  m.bench_exchange += percentile(ours_, 0.5);
  m.bench_count_exchange += percentile(counts_, 0.5);
  m.raw_alltoallv += percentile(raw_, 0.5);
  const double t = MPI_Wtime();
  for (size_t s = 0; s + 1 < plan.slot_off.size(); ++s)
    backend_.raw_gemms(shard0 + s, plan.slot_off[s + 1] - plan.slot_off[s]);
  m.raw_gemm += MPI_Wtime() - t;
  timed.check("baselines");
}

}  // namespace epbench

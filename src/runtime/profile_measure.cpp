#include "runtime/profile_measure.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <numeric>

#include "common/numeric.h"
#include "results/validation.h"
#include "runtime/expert_compute.h"
#include "runtime/mpi_env.h"
#include "runtime/pack_plan.h"
#include "runtime/topology.h"

namespace epbench {

namespace {

// Ranks of one host read one clock: steady_clock is CLOCK_MONOTONIC, which is host-wide.
double host_clock_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One timed call as the slowest host saw it: from the first of its ranks to start the call to
// the last to finish it. Where ranks outnumber cores, a rank that waits for a core leaves the
// opening barrier late, so its own clock misses the wait; the host's span does not, as a
// layer's next collective does not. No barrier closes the span, so none is subtracted.
double time_call(MPI_Comm comm, MPI_Comm host, const std::function<void()>& fn,
                 const std::function<void()>& prepare) {
  if (prepare) prepare();
  EPBENCH_MPI_CHECK(MPI_Barrier(comm));
  const double start = host_clock_seconds();
  fn();
  const double done = host_clock_seconds();
  double mine[2] = {-start, done}, host_ends[2] = {0, 0};
  EPBENCH_MPI_CHECK(MPI_Allreduce(mine, host_ends, 2, MPI_DOUBLE, MPI_MAX, host));
  double span = host_ends[1] + host_ends[0], slowest = 0;
  EPBENCH_MPI_CHECK(MPI_Allreduce(&span, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm));
  return slowest;
}

}  // namespace

CollectiveTimer::CollectiveTimer(MPI_Comm comm) : comm_(comm) {
  int rank = 0;
  EPBENCH_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  EPBENCH_MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &host_));
}

CollectiveTimer::~CollectiveTimer() {
  MPI_Comm_free(&host_);
}

double CollectiveTimer::time(int warmup, int reps, const std::function<void()>& fn,
                             const std::function<void()>& prepare) const {
  for (int i = 0; i < warmup; ++i) {
    if (prepare) prepare();
    fn();
  }
  std::vector<double> span(sz(reps));
  for (double& t : span) t = time_call(comm_, host_, fn, prepare);
  return median_of(span);
}

namespace {

// A layer's expert phase with `active` busy slots of `tokens` rows each, every row its own
// token (a token's pairs on one rank rarely share a row at top-k << E); each slot's rows are
// strided over the work rows, as received tokens interleave in a run.
DispatchPlan synthetic_expert_plan(size_t active, size_t tokens) {
  DispatchPlan plan;
  plan.local_tokens.assign(active * tokens, 0);  // sizes the work rows; values unused
  plan.slot_off.assign(1, 0);
  for (size_t s = 0; s < active; ++s) {
    for (size_t i = 0; i < tokens; ++i) {
      plan.slot_rows.push_back(static_cast<uint32_t>(i * active + s));
      plan.slot_gate.push_back(0.5f);
    }
    plan.slot_off.push_back(plan.slot_rows.size());
  }
  return plan;
}

// What every FFN measurement works in: the received rows, the output, the scratch, the pool of
// experts' weights (every weight set), and the count of calls that moved on in the pool.
struct FfnBench {
  const ProfileOptions& o;
  FfnBackend& backend;
  const CollectiveTimer timer;  // every FFN measurement is timed over one communicator
  std::vector<float> work, out;
  ExpertScratch scratch;
  size_t pool, call = 0;

  FfnBench(const ProfileOptions& options, FfnBackend& b, MPI_Comm comm)
      : o(options),
        backend(b),
        timer(comm),
        work(sz(o.max_tokens) * sz(o.max_active) * sz(o.d_model)),
        out(work.size()),
        pool(sz(weight_sets(o)) * sz(o.max_active)) {
    for (size_t i = 0; i < work.size(); ++i) work[i] = static_cast<float>(i % 97) / 97.f - 0.5f;
    backend.reserve_rows(sz(o.max_tokens) * sz(o.max_active));  // no allocation while timed
  }

  // The plan's experts from shard `first` on.
  void run(const DispatchPlan& plan, size_t first) {
    run_experts(backend, plan, first, work.data(), sz(o.d_model), out.data(), scratch);
  }
  // The plan's `active` experts on the next ones of the pool, as each layer of a run has its
  // own experts: however few the plan has, the calls cycle through every set's weights, which
  // overflow the cache (profile_job.h), so each call reads its weights from memory.
  void run_next(const DispatchPlan& plan, size_t active) {
    run(plan, (call++ % (pool / active)) * active);
  }

  // One point of the cold table: `active` experts of `tokens` rows each, back to back.
  double time_cold(size_t active, size_t tokens) {
    const DispatchPlan plan = synthetic_expert_plan(active, tokens);
    return timer.time(o.warmup, o.repetitions, [&] { run_next(plan, active); });
  }
};

// One expert per call, rotating through the fewest experts whose weights overflow twice a
// core's L2 (at most half the rank's cache share): each call misses the L2 and finds its
// weights in the last-level cache, as a small batch finds the experts of the steps before.
// A larger rotation was less repeatable here (from run to run the same rotation of 5 experts
// measured 30 or 60 us at one token, the L3 being shared with the VM's neighbours). Not
// measured when the cache is unknown.
void measure_warm_ffn(const ProfileOptions& o, FfnBench& bench, Profile& p) {
  p.ffn_warm_time_s.clear();
  if (p.cache_bytes_per_rank <= 0) return;
  const uint64_t expert = expert_weight_bytes(p);
  const uint64_t fit = static_cast<uint64_t>(p.cache_bytes_per_rank) / 2 / expert;
  const uint64_t past_l2 = (2 * core_l2_cache_bytes() + expert - 1) / expert;
  const size_t experts =
      std::clamp<size_t>(std::min(fit, std::max<uint64_t>(past_l2, 1)), 1, bench.pool);
  size_t call = 0;
  for (int64_t n : p.ffn_tokens) {
    const DispatchPlan plan = synthetic_expert_plan(1, static_cast<size_t>(n));
    // Every expert of the rotation read once before timing: the cold table evicted them.
    const int warmup = std::max(o.warmup, static_cast<int>(experts));
    p.ffn_warm_time_s.push_back(
        bench.timer.time(warmup, o.repetitions, [&] { bench.run(plan, call++ % experts); }));
  }
}

// The reuse distances measured, in experts read between: 1, 2, 3, 4, 6, 8, 12, ... and `last`.
std::vector<size_t> reuse_grid(size_t last) {
  std::vector<size_t> g;
  for (size_t v = 1; v < last; v *= 2) {
    g.push_back(v);
    if (v >= 2 && v + v / 2 < last) g.push_back(v + v / 2);
  }
  g.push_back(last);
  return g;
}

// The reuse curves: each timed call reads one expert of one token again after `others`
// distinct experts were read since it, on every rank at once, as a run's ranks read their
// layers' experts between one step's read of an expert and the next's. In `ffn/reuse_time_s`
// the others come from memory (read once each, before the barrier); in
// `ffn/reuse_loop_time_s` from the cache as far as it holds them (the calls loop over
// `others` + 1 experts, every read at that distance). Out to twice the rank's cache share
// (within the pool), where the cache has kept nothing: the curves' last points are cold reads.
// Not measured when the cache is unknown.
void measure_reuse(const ProfileOptions& o, FfnBench& bench, Profile& p) {
  p.ffn_reuse_bytes.clear(), p.ffn_reuse_time_s.clear(), p.ffn_reuse_loop_time_s.clear();
  if (p.cache_bytes_per_rank <= 0 || bench.pool < 2) return;
  const uint64_t expert = expert_weight_bytes(p);
  const uint64_t overflow =
      (2 * static_cast<uint64_t>(p.cache_bytes_per_rank) + expert - 1) / expert;
  const DispatchPlan one = synthetic_expert_plan(1, 1);
  size_t next = 0, first = 0;
  const auto take = [&](size_t n) {  // the next n experts of the pool
    first = next;
    next = (next + n) % bench.pool;
  };
  const auto read = [&](size_t i) { bench.run(one, (first + i) % bench.pool); };
  for (size_t others : reuse_grid(std::min<size_t>(overflow, bench.pool - 1))) {
    p.ffn_reuse_bytes.push_back(static_cast<int64_t>(others * expert));
    const auto from_memory = [&] {
      take(others + 1);
      for (size_t i = 0; i <= others; ++i) read(i);
    };
    p.ffn_reuse_time_s.push_back(bench.timer.time(
        o.warmup, o.repetitions, [&] { read(0); }, from_memory));
    take(others + 1);
    size_t call = 0;  // the loop's warm-up reads each of its experts twice
    p.ffn_reuse_loop_time_s.push_back(bench.timer.time(
        static_cast<int>(2 * (others + 1)), o.repetitions, [&] { read(call++ % (others + 1)); }));
  }
}

// Where a host's ranks outnumber its hardware threads they take turns at its cores, and a phase
// in which only some of them compute is shorter than one in which all do: ffn/turns_ratio[k-1]
// is the phase with k ranks of each host busy over the phase with all of them, at one shape of
// the table (its most active experts, 16 tokens each, clamped to the grid). Which k ranks
// matters where the OS places unbound ranks (two on one core or on two), so it is the mean
// over the R windows of k consecutive local ranks, wrapping round.
void measure_turns(const ProfileOptions& o, FfnBench& bench, const HostShare& host, Profile& p) {
  p.ffn_turns_ratio.clear();
  if (!host.take_turns) return;
  const DispatchPlan plan = synthetic_expert_plan(sz(o.max_active), sz(std::min(16, o.max_tokens)));
  const int R = host.local_size;
  for (int busy = 1; busy <= R; ++busy) {
    double sum = 0;
    for (int first = 0; first < R; ++first)
      sum += bench.timer.time(o.warmup, o.repetitions, [&] {
        if ((host.local_rank - first + R) % R < busy) bench.run_next(plan, sz(o.max_active));
      });
    p.ffn_turns_ratio.push_back(sum / R);
  }
  const double all_busy = p.ffn_turns_ratio.back();
  for (double& t : p.ffn_turns_ratio) t /= all_busy;
}

}  // namespace

// The run's own expert phase (runtime/expert_compute.h): gather, SwiGLU FFN, gated sum.
void measure_ffn(const ProfileOptions& o, FfnBackend& backend, MPI_Comm comm, const HostShare& host,
                 Profile& p) {
  FfnBench bench(o, backend, comm);
  p.ffn_time_s.clear();
  for (int64_t a : p.ffn_active)
    for (int64_t n : p.ffn_tokens)
      p.ffn_time_s.push_back(bench.time_cold(static_cast<size_t>(a), static_cast<size_t>(n)));
  measure_warm_ffn(o, bench, p);
  measure_reuse(o, bench, p);
  measure_turns(o, bench, host, p);
}

void measure_reuse_curve(const ProfileOptions& o, FfnBackend& backend, MPI_Comm comm, Profile& p) {
  FfnBench bench(o, backend, comm);
  measure_reuse(o, bench, p);
}

std::vector<double> measure_ffn_points(const ProfileOptions& o, FfnBackend& backend, MPI_Comm comm,
                                       const std::vector<std::pair<int64_t, int64_t>>& points) {
  FfnBench bench(o, backend, comm);
  std::vector<double> t;
  for (const auto& [active, tokens] : points)
    t.push_back(bench.time_cold(static_cast<size_t>(active), static_cast<size_t>(tokens)));
  return t;
}

namespace {

// Runs, untimed before each timed call, one expert phase of the rank's most active experts at
// 16 tokens each, on the next weights of the pool, as a step's expert phase runs between its
// dispatch and its combine: what that phase evicts from the caches (its weights stream through
// them) the timed call then finds evicted.
class ExpertPhaseBetween {
 public:
  ExpertPhaseBetween(const ProfileOptions& o, FfnBackend& backend, MPI_Comm comm)
      : bench_(o, backend, comm),
        active_(sz(o.max_active)),
        plan_(synthetic_expert_plan(active_, sz(std::min(16, o.max_tokens)))) {}
  std::function<void()> prepare() {
    return [this] { bench_.run_next(plan_, active_); };
  }

 private:
  FfnBench bench_;
  size_t active_;
  DispatchPlan plan_;
};

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
                     const CollectiveTimer& timer, const std::function<void()>& between,
                     Profile& p) {
  const size_t P = to.size(), stride = static_cast<size_t>(p.a2a_bytes.back());
  std::vector<uint8_t> send(P * stride, 1), recv(P * stride);
  ex.reserve_bytes(send.size(), recv.size());
  A2aBuffers b;
  const auto call = [&] {
    ex.alltoallv(send.data(), b.send_bytes, b.send_off, recv.data(), b.recv_bytes, b.recv_off);
  };
  for (int64_t bytes : p.a2a_bytes) {
    b.set(to, static_cast<size_t>(bytes), stride);
    p.a2a_time_s.push_back(timer.time(o.warmup, o.repetitions, call, between));
    p.a2a_hot_time_s.push_back(timer.time(o.warmup, o.repetitions, call));
  }
}

void measure_a2a(const ProfileOptions& o, Exchange& exchange, const std::vector<int>& node,
                 MPI_Comm comm, const CollectiveTimer& timer, const std::function<void()>& between,
                 Profile& p) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const size_t P = node.size();
  p.a2a_cache_state = kCacheAfterExperts;
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
    measure_pattern(o, exchange, to, timer, between, p);
  }
  // The dispatch's count exchange (runtime/moe_layer.cpp): one uint64 to every rank.
  std::vector<uint64_t> counts(P, 1), got(P);
  const auto exchange_counts = [&] {
    EPBENCH_MPI_CHECK(
        MPI_Alltoall(counts.data(), 1, MPI_UINT64_T, got.data(), 1, MPI_UINT64_T, comm));
  };
  p.count_exchange_s = timer.time(o.warmup, o.repetitions, exchange_counts, between);
  p.count_exchange_hot_s = timer.time(o.warmup, o.repetitions, exchange_counts);
}

// The MoE layer's own row moves (runtime/pack_plan.h): pack n rows into the send buffer in the
// wire's dtype, add n returned rows back into theirs, in ascending order as a dispatch packs
// each destination's.
void measure_row_moves(const ProfileOptions& o, const CollectiveTimer& timer,
                       const std::function<void()>& between, Profile& p) {
  p.row_move_time_s.clear(), p.row_move_hot_time_s.clear();
  if (p.row_moves.empty()) return;
  const size_t most = static_cast<size_t>(p.row_moves.back()), d = sz(o.d_model);
  std::vector<float> hidden(most * d, 0.5f), y(most * d, 0.f);
  std::vector<unsigned char> wire(most * d * dtype_bytes(o.dtype));
  std::vector<uint32_t> in_order(most);
  std::iota(in_order.begin(), in_order.end(), 0u);
  for (int64_t rows : p.row_moves) {
    const size_t n = static_cast<size_t>(rows);
    const auto move = [&] {
      pack_rows(o.dtype, hidden.data(), in_order.data(), n, d, wire.data());
      add_back_rows(o.dtype, wire.data(), in_order.data(), n, d, y.data());
    };
    p.row_move_time_s.push_back(timer.time(o.warmup, o.repetitions, move, between));
    p.row_move_hot_time_s.push_back(timer.time(o.warmup, o.repetitions, move));
  }
}

}  // namespace

void measure_comm(const ProfileOptions& o, FfnBackend& backend, Exchange& exchange,
                  const std::vector<int>& node, MPI_Comm comm, Profile& p) {
  const CollectiveTimer timer(comm);
  ExpertPhaseBetween experts(o, backend, comm);
  const std::function<void()> between = experts.prepare();
  measure_a2a(o, exchange, node, comm, timer, between, p);
  measure_row_moves(o, timer, between, p);
}

}  // namespace epbench

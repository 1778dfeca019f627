#include "runtime/profile_job.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/numeric.h"
#include "results/results_writer.h"
#include "results/validation.h"
#include "runtime/mpi_env.h"
#include "runtime/profile_measure.h"
#include "runtime/topology.h"

namespace epbench {

std::vector<int64_t> doubling_grid(int64_t first, int64_t last) {
  std::vector<int64_t> g;
  for (int64_t v = first; v < last; v *= 2) g.push_back(v);
  g.push_back(last);
  return g;
}

int weight_sets(const ProfileOptions& o) {
  const size_t expert = 3 * sz(o.d_model) * sz(o.d_ff) * sizeof(float);
  const size_t set = expert * sz(o.max_active);
  const size_t most = std::max<size_t>(1, kProfileWeightBytes / set);
  const size_t overflow = static_cast<size_t>(o.overflow_bytes) / set + 1;
  const size_t wanted = std::max(sz(std::max(1, o.weight_sets)), o.overflow_bytes ? overflow : 1);
  return static_cast<int>(std::min(most, wanted));
}

namespace {

void check_options(const ProfileOptions& o, int world) {
  if (world < 2) throw InputError("profile: expected at least 2 ranks (mpirun -np 2 or more)");
  if (o.d_model <= 0 || o.d_ff <= 0)
    throw InputError("profile: expected --d-model and --d-ff > 0 (or --trace / --model)");
  if (o.max_tokens < 1) throw OptionError("max_tokens", "expected an integer >= 1");
  if (o.max_active < 1) throw OptionError("max_active", "expected an integer >= 1");
  if (o.max_bytes < 8) throw OptionError("max_bytes", "expected an integer >= 8");
  if (o.repetitions < 1) throw OptionError("repetitions", "expected an integer >= 1");
  if (o.sweeps < 1) throw OptionError("sweeps", "expected an integer >= 1");
  if (o.output.empty()) throw OptionError("output", "expected a file to write");
}

std::unique_ptr<FfnBackend> make_ffn(const ProfileOptions& o, int gpu) {
  const size_t shards = sz(o.max_active) * sz(weight_sets(o));
  std::unique_ptr<FfnBackend> b;
  if (o.backend == "cpu")
    b = make_cpu_backend(o.d_model, o.d_ff, shards, o.threads);
  else if (o.backend == "cuda")
    b = make_cuda_backend(o.d_model, o.d_ff, shards, gpu, o.dtype == DType::kBf16);
  else
    throw OptionError("backend", "expected cpu or cuda, got '" + o.backend + "'");
  ExpertWeightsF32 w;
  for (size_t s = 0; s < shards; ++s) {  // the run's weights: seeded, one expert per shard
    make_expert_weights(o.seed, 0, static_cast<int>(s), o.d_model, o.d_ff, o.dtype, w);
    b->load(s, w.gate.data(), w.up.data(), w.down.data());
  }
  return b;
}

std::unique_ptr<Exchange> make_comm(const ProfileOptions& o, MPI_Comm comm, int gpu) {
  if (o.comm == "mpi") return make_mpi_exchange(comm);
  if (o.comm == "nccl") return make_nccl_exchange(comm, gpu);
  throw OptionError("comm", "expected mpi or nccl, got '" + o.comm + "'");
}

// One rank's share of its host's last-level cache; 0 for a GPU backend, whose weights stream
// from its own memory.
uint64_t cache_share(const ProfileOptions& o, const JobTopology& topo) {
  if (o.backend != "cpu") return 0;
  return last_level_cache_bytes() / sz(topo.ranks.front().local_size);
}

Profile header(const ProfileOptions& o, const JobTopology& topo) {
  Profile p;
  p.path = o.output;
  p.backend = o.backend, p.dtype = dtype_name(o.dtype);
  p.d_model = o.d_model, p.d_ff = o.d_ff;
  p.world_size = static_cast<int64_t>(topo.ranks.size());
  p.ranks_per_node = topo.ranks_per_node > 0 ? topo.ranks_per_node : p.world_size;
  p.repetitions = o.repetitions;
  p.sweeps = o.sweeps;
  p.weight_sets = weight_sets(o);
  p.cache_bytes_per_rank = static_cast<int64_t>(cache_share(o, topo));
  for (const RankPlacement& r : topo.ranks)
    if (std::find(p.hosts.begin(), p.hosts.end(), r.host) == p.hosts.end())
      p.hosts.push_back(r.host);
  p.created_at = utc_now();
  p.command_line = o.command_line;
  p.ffn_tokens = doubling_grid(1, o.max_tokens);
  for (int a = 1; a <= o.max_active; ++a) p.ffn_active.push_back(a);
  p.a2a_bytes = doubling_grid(8, o.max_bytes);
  // A GPU packs rows with device kernels, at its memory's bandwidth: not modelled.
  if (o.backend == "cpu")
    p.row_moves = doubling_grid(1, static_cast<int64_t>(o.max_tokens) * o.max_active);
  return p;
}

// Each point's median over the sweeps (each sweep measured the whole grid once): a transient
// of the machine slows one sweep's stretch of the grid, not the table.
void keep_median_sweeps(const std::vector<Profile>& sweeps, Profile& p) {
  const auto over_sweeps = [&](auto figure) {
    std::vector<double> v;
    for (const Profile& s : sweeps) v.push_back(figure(s));
    return median_of(v);
  };
  for (auto table :
       {&Profile::ffn_time_s, &Profile::ffn_warm_time_s, &Profile::ffn_reuse_time_s,
        &Profile::ffn_reuse_loop_time_s, &Profile::ffn_turns_ratio, &Profile::a2a_time_s,
        &Profile::a2a_hot_time_s, &Profile::row_move_time_s, &Profile::row_move_hot_time_s})
    for (size_t i = 0; i < (p.*table).size(); ++i)
      (p.*table)[i] = over_sweeps([&](const Profile& s) { return (s.*table)[i]; });
  p.count_exchange_s = over_sweeps([](const Profile& s) { return s.count_exchange_s; });
  p.count_exchange_hot_s = over_sweeps([](const Profile& s) { return s.count_exchange_hot_s; });
}

// Whether any host's ranks outnumber its hardware threads: then they take turns at its cores.
HostShare host_share(MPI_Comm comm, const RankPlacement& me) {
  int crowded = me.local_size > host_hardware_threads(), any = 0;
  EPBENCH_MPI_CHECK(MPI_Allreduce(&crowded, &any, 1, MPI_INT, MPI_MAX, comm));
  return {me.local_rank, me.local_size, any != 0};
}

}  // namespace

Profile run_profile(const ProfileOptions& options, MPI_Comm comm) {
  ProfileOptions o = options;
  int rank = 0, world = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  agree(comm, [&] {
    check_launcher(comm);
    check_options(o, world);
  });
  JobTopology topo;
  agree(comm, [&] { topo = discover_topology(comm, o.ranks_per_node); });
  o.overflow_bytes = 2 * cache_share(o, topo);
  const int gpu = topo.ranks[sz(rank)].gpu;
  std::unique_ptr<FfnBackend> ffn;
  std::unique_ptr<Exchange> exchange;
  agree(comm, [&] {
    ffn = make_ffn(o, gpu);
    exchange = make_comm(o, comm, gpu);
  });
  Profile p = header(o, topo);
  const HostShare host = host_share(comm, topo.ranks[sz(rank)]);
  std::vector<int> node;
  for (const RankPlacement& r : topo.ranks) node.push_back(r.node);
  std::vector<Profile> sweeps(sz(o.sweeps), p);
  for (Profile& s : sweeps) {
    measure_ffn(o, *ffn, comm, host, s);
    measure_comm(o, *ffn, *exchange, node, comm, s);
  }
  p = sweeps.front();  // the patterns and destinations, the same in every sweep
  keep_median_sweeps(sweeps, p);
  // Rank 0 writes; the others wait so that the job ends with the file in place or an error.
  agree(comm, [&] {
    if (rank == 0) write_profile(o.output, p);
  });
  return p;
}

namespace {

// Where in the grid's token counts the probe measures: 1, 16 and 128 (those of the grid), or
// the first.
std::vector<size_t> probe_token_columns(const Profile& p) {
  std::vector<size_t> columns;
  for (int64_t n : {1, 16, 128}) {
    const auto at = std::find(p.ffn_tokens.begin(), p.ffn_tokens.end(), n);
    if (at != p.ffn_tokens.end()) columns.push_back(static_cast<size_t>(at - p.ffn_tokens.begin()));
  }
  if (columns.empty()) columns.push_back(0);
  return columns;
}

}  // namespace

std::vector<DriftPoint> probe_profile(const Profile& profile, MPI_Comm comm, int gpu, int threads) {
  ProfileOptions o;
  o.backend = profile.backend, o.dtype = parse_dtype(profile.dtype);
  o.d_model = static_cast<int>(profile.d_model), o.d_ff = static_cast<int>(profile.d_ff);
  o.max_active = static_cast<int>(profile.ffn_active.back());
  o.max_tokens = static_cast<int>(profile.ffn_tokens.back());
  o.weight_sets = static_cast<int>(profile.weight_sets);
  o.repetitions = static_cast<int>(std::max<int64_t>(1, profile.repetitions));
  o.threads = threads;
  // The most active experts: the table's last row.
  const int64_t active = profile.ffn_active.back();
  const size_t row = (profile.ffn_active.size() - 1) * profile.ffn_tokens.size();
  const std::vector<size_t> columns = probe_token_columns(profile);
  std::vector<std::pair<int64_t, int64_t>> points;
  for (size_t t : columns) points.emplace_back(active, profile.ffn_tokens[t]);
  std::vector<double> measured;
  agree(comm, [&] {
    const std::unique_ptr<FfnBackend> ffn = make_ffn(o, gpu);
    measured = measure_ffn_points(o, *ffn, comm, points);
  });
  std::vector<DriftPoint> out;
  for (size_t i = 0; i < columns.size(); ++i)
    out.push_back({active, points[i].second, profile.ffn_time_s[row + columns[i]], measured[i]});
  return out;
}

}  // namespace epbench

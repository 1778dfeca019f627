// Topology discovery (topology.h): each rank finds its own host, binding and GPU, then one
// allgather gives every rank the whole map, so every rank derives the same nodes and errors.
#include "runtime/topology.h"

#include <hwloc.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>

#include "common/error.h"
#include "runtime/gpu_locality.h"
#include "runtime/mpi_env.h"

namespace epbench {

namespace {

// ---- hwloc ------------------------------------------------------------------------------

class Bitmap {
 public:
  Bitmap() : b_(hwloc_bitmap_alloc()) {
    if (!b_) throw std::runtime_error("hwloc_bitmap_alloc failed");
  }
  ~Bitmap() { hwloc_bitmap_free(b_); }
  Bitmap(const Bitmap&) = delete;
  Bitmap& operator=(const Bitmap&) = delete;
  hwloc_bitmap_t get() const { return b_; }
  std::string list() const {
    char* text = nullptr;
    if (hwloc_bitmap_list_asprintf(&text, b_) < 0 || !text)
      throw std::runtime_error("hwloc_bitmap_list_asprintf failed");
    std::string s(text);
    std::free(text);
    return s;
  }

 private:
  hwloc_bitmap_t b_;
};

class Hwloc {
 public:
  // io: also discover PCI devices, to find a GPU's local CPUs (slower, so only with a GPU).
  explicit Hwloc(bool io) {
    if (hwloc_topology_init(&t_) != 0) throw std::runtime_error("hwloc_topology_init failed");
    if (io) hwloc_topology_set_io_types_filter(t_, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(t_) != 0) {
      hwloc_topology_destroy(t_);
      throw std::runtime_error("hwloc_topology_load failed");
    }
  }
  ~Hwloc() { hwloc_topology_destroy(t_); }
  Hwloc(const Hwloc&) = delete;
  Hwloc& operator=(const Hwloc&) = delete;
  hwloc_topology_t get() const { return t_; }

 private:
  hwloc_topology_t t_ = nullptr;
};

// The GPU's local CPUs: the cpuset of the first non-I/O ancestor of its PCI device. False
// only when hwloc knows the device and the binding reaches outside them.
bool binding_near_gpu(const Hwloc& topo, hwloc_const_bitmap_t binding, const std::string& pci) {
  hwloc_obj_t dev = hwloc_get_pcidev_by_busidstring(topo.get(), pci.c_str());
  if (!dev) return true;  // not visible to hwloc (container, filtered): cannot judge
  hwloc_obj_t parent = hwloc_get_non_io_ancestor_obj(topo.get(), dev);
  if (!parent || !parent->cpuset) return true;
  return hwloc_bitmap_isincluded(binding, parent->cpuset) != 0;
}

// Fills cpuset, numa, gpu, gpu_pci and gpu_near of this rank.
void discover_locality(int local_rank, RankPlacement& me) {
  const RankGpu gpu = rank_gpu(local_rank);
  const Hwloc topo(gpu.device >= 0);
  Bitmap binding, nodes;
  // A failed query (some kernels, some containers) reads as unbound.
  if (hwloc_get_cpubind(topo.get(), binding.get(), HWLOC_CPUBIND_PROCESS) != 0)
    hwloc_bitmap_copy(binding.get(), hwloc_topology_get_topology_cpuset(topo.get()));
  const bool unbound =
      hwloc_bitmap_isincluded(hwloc_topology_get_topology_cpuset(topo.get()), binding.get());
  me.cpuset = unbound ? "" : binding.list();
  hwloc_cpuset_to_nodeset(topo.get(), binding.get(), nodes.get());
  me.numa = nodes.list();
  me.gpu = gpu.device;
  me.gpu_pci = gpu.pci;
  if (gpu.device >= 0) me.gpu_near = binding_near_gpu(topo, binding.get(), gpu.pci);
}

std::string host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

// ---- allgather of the placements ---------------------------------------------------------

// Each placement travels as int32 fields and length-prefixed strings, in this order.
void put_int(std::string& buf, int v) {
  const auto x = static_cast<int32_t>(v);
  buf.append(reinterpret_cast<const char*>(&x), sizeof x);
}
void put_str(std::string& buf, const std::string& s) {
  put_int(buf, static_cast<int>(s.size()));
  buf.append(s);
}

class Reader {
 public:
  explicit Reader(const char* p) : p_(p) {}
  int get_int() {
    int32_t x = 0;
    std::memcpy(&x, p_, sizeof x);
    p_ += sizeof x;
    return x;
  }
  std::string get_str() {
    const auto n = static_cast<size_t>(get_int());
    std::string s(p_, n);
    p_ += n;
    return s;
  }

 private:
  const char* p_;
};

// `leader` (the lowest world rank of the host) travels alongside; host_index derives from it.
std::string pack(const RankPlacement& r, int leader) {
  std::string buf;
  for (int v : {r.rank, leader, r.local_rank, r.local_size, r.gpu, int(r.gpu_near)})
    put_int(buf, v);
  for (const std::string* s : {&r.host, &r.cpuset, &r.numa, &r.gpu_pci}) put_str(buf, *s);
  return buf;
}

RankPlacement unpack(Reader& in, int& leader) {
  RankPlacement r;
  r.rank = in.get_int(), leader = in.get_int();
  r.local_rank = in.get_int(), r.local_size = in.get_int();
  r.gpu = in.get_int(), r.gpu_near = in.get_int() != 0;
  r.host = in.get_str(), r.cpuset = in.get_str(), r.numa = in.get_str();
  r.gpu_pci = in.get_str();
  return r;
}

std::vector<std::string> allgather_strings(MPI_Comm comm, const std::string& mine) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  const auto n = static_cast<size_t>(size);
  std::vector<int> lens(n), offs(n);
  int len = static_cast<int>(mine.size());
  EPBENCH_MPI_CHECK(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm));
  int total = 0;
  for (size_t p = 0; p < n; ++p) offs[p] = total, total += lens[p];
  std::string all(static_cast<size_t>(total), '\0');
  EPBENCH_MPI_CHECK(MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offs.data(),
                                   MPI_CHAR, comm));
  std::vector<std::string> parts(n);
  for (size_t p = 0; p < n; ++p) parts[p] = all.substr(size_t(offs[p]), size_t(lens[p]));
  return parts;
}

// ---- nodes ---------------------------------------------------------------------------------

// Hosts numbered by their lowest rank, in rank order.
void number_hosts(JobTopology& t, const std::vector<int>& leaders) {
  const std::set<int> distinct(leaders.begin(), leaders.end());
  const std::vector<int> sorted(distinct.begin(), distinct.end());
  for (size_t r = 0; r < t.ranks.size(); ++r) {
    const auto it = std::lower_bound(sorted.begin(), sorted.end(), leaders[r]);
    t.ranks[r].host_index = static_cast<int>(it - sorted.begin());
  }
  t.hosts = static_cast<int>(sorted.size());
}

// The layout numbers GPUs node by node (GPU g on node g / gpus_per_node), so a node's ranks
// must be consecutive; with hosts numbered by lowest rank that means non-decreasing indices.
void check_consecutive_hosts(const JobTopology& t) {
  for (size_t r = 1; r < t.ranks.size(); ++r) {
    const RankPlacement &prev = t.ranks[r - 1], &cur = t.ranks[r];
    if (cur.host_index >= prev.host_index) continue;
    throw InputError("ranks of host " + cur.host + " are not consecutive (rank " +
                     std::to_string(cur.rank) + " follows rank " + std::to_string(prev.rank) +
                     " on " + prev.host +
                     "): the layout numbers GPUs node by node; place ranks in blocks "
                     "(mpirun --map-by slot, srun --distribution=block)");
  }
}

void check_ranks_per_node(int size, int ranks_per_node) {
  if (ranks_per_node < 0)
    throw OptionError("ranks_per_node",
                      "expected a non-negative number, got " + std::to_string(ranks_per_node));
  if (ranks_per_node > 0 && size % ranks_per_node != 0)
    throw OptionError("ranks_per_node", "expected a divisor of the job's " + std::to_string(size) +
                                            " ranks (virtual nodes must be full), got " +
                                            std::to_string(ranks_per_node));
}

}  // namespace

void assign_nodes(JobTopology& t, int ranks_per_node) {
  t.virtual_nodes = ranks_per_node > 0;
  if (!t.virtual_nodes) check_consecutive_hosts(t);
  std::vector<int> count;
  for (RankPlacement& r : t.ranks) {
    r.node = t.virtual_nodes ? r.rank / ranks_per_node : r.host_index;
    if (static_cast<size_t>(r.node) >= count.size()) count.resize(size_t(r.node) + 1);
    ++count[size_t(r.node)];
  }
  t.nodes = static_cast<int>(count.size());
  const bool even = std::all_of(count.begin(), count.end(), [&](int c) { return c == count[0]; });
  t.ranks_per_node = even ? count[0] : 0;
}

JobTopology discover_topology(MPI_Comm comm, int ranks_per_node) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  check_ranks_per_node(size, ranks_per_node);  // the same verdict on every rank

  MPI_Comm local = MPI_COMM_NULL;
  EPBENCH_MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local));
  RankPlacement me;
  me.rank = rank;
  MPI_Comm_rank(local, &me.local_rank);
  MPI_Comm_size(local, &me.local_size);
  int leader = rank;
  const int rc = MPI_Allreduce(&rank, &leader, 1, MPI_INT, MPI_MIN, local);
  MPI_Comm_free(&local);
  EPBENCH_MPI_CHECK(rc);
  me.host = host_name();
  // A local failure (hwloc) must not leave the other ranks waiting in the allgather.
  agree(comm, [&] { discover_locality(me.local_rank, me); });

  JobTopology t;
  std::vector<int> leaders;
  for (const std::string& part : allgather_strings(comm, pack(me, leader))) {
    Reader in(part.data());
    leaders.emplace_back();
    t.ranks.push_back(unpack(in, leaders.back()));
  }
  number_hosts(t, leaders);
  assign_nodes(t, ranks_per_node);
  return t;
}

}  // namespace epbench

namespace epbench {

uint64_t last_level_cache_bytes() {
  const Hwloc topo(false);
  // The last level present: L3 where there is one, else L2 (summed over its instances).
  for (hwloc_obj_type_t type : {HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L2CACHE}) {
    uint64_t total = 0;
    const int n = hwloc_get_nbobjs_by_type(topo.get(), type);
    for (int i = 0; i < n; ++i)
      total += hwloc_get_obj_by_type(topo.get(), type, static_cast<unsigned>(i))->attr->cache.size;
    if (total > 0) return total;
  }
  return 0;
}

uint64_t core_l2_cache_bytes() {
  const Hwloc topo(false);
  const hwloc_obj_t l2 = hwloc_get_obj_by_type(topo.get(), HWLOC_OBJ_L2CACHE, 0);
  return l2 ? l2->attr->cache.size : 0;
}

int host_hardware_threads() {
  const Hwloc topo(false);
  return std::max(1, hwloc_get_nbobjs_by_type(topo.get(), HWLOC_OBJ_PU));
}

}  // namespace epbench

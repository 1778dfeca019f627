#pragma once
// Where each rank runs (docs/run.md "Topology"): its host and node from
// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), its CPU binding and NUMA node from hwloc, and with
// CUDA its GPU's PCI address and whether the rank is bound close to it. Virtual nodes
// (--ranks-per-node K) group ranks K by K so one host exercises the intra/inter-node paths.
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace epbench {

struct RankPlacement {
  int rank = 0;
  std::string host;      // gethostname
  int host_index = 0;    // hosts numbered by their lowest rank
  int local_rank = 0;    // rank within its host (MPI_COMM_TYPE_SHARED)
  int local_size = 1;    // ranks on its host
  int node = 0;          // node used for placement and byte accounting (virtual or host_index)
  std::string cpuset;    // hwloc binding as a list of PUs, e.g. "0-3" ("" when unbound)
  std::string numa;      // NUMA nodes the binding covers, e.g. "0" or "0,1"
  int gpu = -1;          // CUDA device index used by this rank, -1 without one
  std::string gpu_pci;   // e.g. "0000:3b:00.0"
  bool gpu_near = true;  // the binding lies within the GPU's local CPUs
};

struct JobTopology {
  std::vector<RankPlacement> ranks;  // every rank, the same on every rank
  int nodes = 1;                     // distinct values of RankPlacement::node
  int ranks_per_node = 1;            // when every node has the same count, else 0
  bool virtual_nodes = false;
  int hosts = 1;
};

// Collective over comm. ranks_per_node > 0 makes virtual nodes of consecutive ranks (the
// communicator's size must be a multiple; OptionError of field ranks_per_node otherwise);
// 0 uses the hosts. Ranks of one node must be consecutive for the layout's GPU numbering
// (InputError otherwise, suggesting --map-by / block distribution).
JobTopology discover_topology(MPI_Comm comm, int ranks_per_node);

// The node step of discover_topology, from each rank's host_index (exposed for tests): sets
// node, nodes, ranks_per_node and virtual_nodes; InputError when hosts are not consecutive.
void assign_nodes(JobTopology& t, int ranks_per_node);

// Bytes of this host's last-level CPU caches (hwloc: all L3 instances, else L2), 0 unknown.
uint64_t last_level_cache_bytes();
// Bytes of one core's L2 cache (hwloc's first L2), 0 unknown.
uint64_t core_l2_cache_bytes();
// Hardware threads this process may run on the host (hwloc PUs of the allowed cpuset): where a
// host's ranks outnumber them, the ranks take turns (docs/profile.md).
int host_hardware_threads();

// The rank/host/node/NUMA/GPU map, one line per rank, for `epbench topo` and run logs.
std::string format_topology(const JobTopology& t);

// Ranks that use the same GPU of one host, one group per shared GPU (groups of two or more).
std::vector<std::vector<int>> shared_gpu_groups(const JobTopology& t);
// How many ranks use this rank's GPU (1 without sharing or without a GPU).
int ranks_on_gpu(const JobTopology& t, int rank);
// NCCL puts one rank per GPU in a communicator: OptionError of field "comm" naming the ranks
// that share one, pointing at --comm mpi (the GPU backend still runs the experts there).
void require_distinct_gpus(const JobTopology& t);

// Conditions worth a warning: a rank not bound to CPUs, a rank bound far from its GPU, two
// ranks sharing a GPU. One line each.
std::vector<std::string> topology_warnings(const JobTopology& t);

}  // namespace epbench

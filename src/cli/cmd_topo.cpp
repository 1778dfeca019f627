// `epbench topo`: launched like `run` (mpirun/srun), prints where every rank landed -- host,
// node, CPU binding, NUMA node, GPU -- and what looks wrong, before a benchmark is spent on it.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/mpi_command.h"
#include "common/atomic_file.h"
#include "runtime/topology.h"

namespace epbench::cli {

namespace {

struct TopoOptions {
  int ranks_per_node = 0;
  std::string json;
};

nlohmann::json topology_json(const JobTopology& t) {
  nlohmann::json ranks = nlohmann::json::array();
  for (const RankPlacement& r : t.ranks)
    ranks.push_back({{"rank", r.rank},
                     {"host", r.host},
                     {"host_index", r.host_index},
                     {"local_rank", r.local_rank},
                     {"local_size", r.local_size},
                     {"node", r.node},
                     {"cpuset", r.cpuset},
                     {"numa", r.numa},
                     {"gpu", r.gpu},
                     {"gpu_pci", r.gpu_pci},
                     {"gpu_near", r.gpu_near}});
  return {{"format", "epbench-topology"},
          {"version", 1},
          {"nodes", t.nodes},
          {"ranks_per_node", t.ranks_per_node},
          {"virtual_nodes", t.virtual_nodes},
          {"hosts", t.hosts},
          {"warnings", topology_warnings(t)},
          {"ranks", ranks}};
}

// Rank 0 speaks for the job; inside agree() so a bad --json path stops every rank alike.
void report(const JobTopology& t, const TopoOptions& o, int rank) {
  if (rank != 0) return;
  std::fputs(format_topology(t).c_str(), stdout);
  for (const std::string& w : topology_warnings(t))
    std::fprintf(stderr, "epbench: warning: %s\n", w.c_str());
  if (!o.json.empty()) write_text_file(o.json, topology_json(t).dump(2) + "\n");
}

void run_topo(const TopoOptions& o) {
  run_mpi_command([&](MpiSession& session) {
    JobTopology t;
    agree(MPI_COMM_WORLD, [&] {
      check_launcher(MPI_COMM_WORLD);
      t = discover_topology(MPI_COMM_WORLD, o.ranks_per_node);
    });
    agree(MPI_COMM_WORLD, [&] { report(t, o, session.rank()); });
  });
}

}  // namespace

void register_topo(CLI::App& app) {
  auto o = std::make_shared<TopoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "topo", "Print where each MPI rank runs: host, node, CPUs, NUMA, GPU (launch with mpirun)");
  cmd->add_option("--ranks-per-node", o->ranks_per_node,
                  "Virtual nodes of K consecutive ranks (0: one node per host)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--json", o->json, "Also write the map as JSON to this file");
  cmd->callback([o] { run_topo(*o); });
}

}  // namespace epbench::cli

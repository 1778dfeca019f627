// The topology map as text (`epbench topo`, run logs) and the warnings worth printing.
#include <algorithm>
#include <map>
#include <utility>

#include "common/error.h"
#include "runtime/topology.h"

namespace epbench {

namespace {

using Row = std::vector<std::string>;

// Columns left-aligned, two spaces apart, trailing blanks trimmed.
std::string align(const std::vector<Row>& rows) {
  std::vector<size_t> width;
  for (const Row& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const Row& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(width[c] - row[c].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

Row table_row(const RankPlacement& r, bool virtual_nodes) {
  const bool gpu = r.gpu >= 0;
  return {std::to_string(r.rank),
          r.host,
          (virtual_nodes ? "v" : "") + std::to_string(r.node),
          std::to_string(r.local_rank),
          r.cpuset.empty() ? "unbound" : r.cpuset,
          r.numa.empty() ? "-" : r.numa,
          gpu ? std::to_string(r.gpu) : "-",
          gpu ? r.gpu_pci : "-",
          gpu ? (r.gpu_near ? "yes" : "no") : "-"};
}

std::string plural(int n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string summary(const JobTopology& t) {
  std::string s = plural(static_cast<int>(t.ranks.size()), "rank") + " on " +
                  plural(t.hosts, "host") + ", " + plural(t.nodes, "node");
  if (t.ranks_per_node > 0) s += " of " + plural(t.ranks_per_node, "rank");
  if (t.virtual_nodes) s += " (virtual: --ranks-per-node; v marks them below)";
  return s + "\n";
}

// "0-3,6": ranks in increasing order, runs collapsed.
std::string rank_list(const std::vector<int>& ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    if (!s.empty()) s += ",";
    s += std::to_string(ranks[i]);
    if (j > i) s += "-" + std::to_string(ranks[j]);
    i = j + 1;
  }
  return s;
}

std::string ranks_word(const std::vector<int>& ranks) {
  return (ranks.size() == 1 ? "rank " : "ranks ") + rank_list(ranks);
}

// "rank 3 is" / "ranks 0-3 are"
std::string ranks_are(const std::vector<int>& ranks) {
  return ranks_word(ranks) + (ranks.size() == 1 ? " is" : " are");
}

std::string shared_gpu_text(const JobTopology& t, const std::vector<int>& ranks) {
  const RankPlacement& r = t.ranks[size_t(ranks[0])];
  return ranks_word(ranks) + " share GPU " + std::to_string(r.gpu) + " on " + r.host;
}

std::vector<std::string> gpu_sharing_warnings(const JobTopology& t) {
  std::vector<std::string> lines;
  for (const std::vector<int>& ranks : shared_gpu_groups(t))
    lines.push_back(shared_gpu_text(t, ranks) +
                    ": more ranks than GPUs on the host, so compute times interfere");
  return lines;
}

// A virtual node should not straddle hosts: its "same node" bytes would cross the network.
std::vector<std::string> straddle_warnings(const JobTopology& t) {
  std::map<int, std::vector<int>> hosts_of_node;
  for (const RankPlacement& r : t.ranks) {
    std::vector<int>& h = hosts_of_node[r.node];
    if (std::find(h.begin(), h.end(), r.host_index) == h.end()) h.push_back(r.host_index);
  }
  std::vector<std::string> lines;
  for (const auto& [node, hosts] : hosts_of_node)
    if (hosts.size() > 1)
      lines.push_back("virtual node " + std::to_string(node) + " spans " +
                      plural(static_cast<int>(hosts.size()), "host") +
                      ": its intra-node traffic crosses the network");
  return lines;
}

}  // namespace

std::string format_topology(const JobTopology& t) {
  std::vector<Row> rows = {{"rank", "host", "node", "local", "cpus", "numa", "gpu", "pci", "near"}};
  for (const RankPlacement& r : t.ranks) rows.push_back(table_row(r, t.virtual_nodes));
  return summary(t) + align(rows);
}

std::vector<std::vector<int>> shared_gpu_groups(const JobTopology& t) {
  std::map<std::pair<int, int>, std::vector<int>> users;  // (host, gpu) -> ranks
  for (const RankPlacement& r : t.ranks)
    if (r.gpu >= 0) users[{r.host_index, r.gpu}].push_back(r.rank);
  std::vector<std::vector<int>> groups;
  for (auto& [key, ranks] : users)
    if (ranks.size() > 1) groups.push_back(std::move(ranks));
  return groups;
}

int ranks_on_gpu(const JobTopology& t, int rank) {
  for (const std::vector<int>& ranks : shared_gpu_groups(t))
    if (std::find(ranks.begin(), ranks.end(), rank) != ranks.end())
      return static_cast<int>(ranks.size());
  return 1;
}

void require_distinct_gpus(const JobTopology& t) {
  const std::vector<std::vector<int>> groups = shared_gpu_groups(t);
  if (groups.empty()) return;
  throw OptionError("comm", "NCCL needs a distinct GPU per rank, but " +
                                shared_gpu_text(t, groups[0]) +
                                "; use --comm mpi (--backend cuda still runs the experts on the "
                                "GPU) or one rank per GPU");
}

std::vector<std::string> topology_warnings(const JobTopology& t) {
  std::vector<int> unbound, far;
  for (const RankPlacement& r : t.ranks) {
    if (r.cpuset.empty()) unbound.push_back(r.rank);
    // An unbound rank is reported as unbound only: binding it is the fix for both.
    else if (r.gpu >= 0 && !r.gpu_near)
      far.push_back(r.rank);
  }
  std::vector<std::string> lines;
  if (!unbound.empty())
    lines.push_back(ranks_are(unbound) +
                    " not bound to CPUs: timings may drift as the OS moves them (mpirun "
                    "--bind-to core, srun --cpu-bind=cores)");
  if (!far.empty())
    lines.push_back(ranks_are(far) +
                    " bound to CPUs outside their GPU's local CPUs: host-device copies cross "
                    "the socket link (bind each rank near its GPU)");
  for (auto& l : gpu_sharing_warnings(t)) lines.push_back(std::move(l));
  if (t.virtual_nodes)
    for (auto& l : straddle_warnings(t)) lines.push_back(std::move(l));
  return lines;
}

}  // namespace epbench

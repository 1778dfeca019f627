#include "runtime/dispatch_plan.h"

#include <algorithm>

#include "common/numeric.h"

namespace epbench {

namespace {

// Counting sort of (peer, token) pairs into per-peer runs; tokens stay ascending within a peer.
void group_by_peer(const std::vector<std::pair<int32_t, uint32_t>>& pairs, int world,
                   std::vector<uint32_t>& tokens, std::vector<size_t>& off) {
  off.assign(sz(world) + 1, 0);
  for (const auto& [peer, t] : pairs) ++off[sz(peer) + 1];
  for (size_t p = 0; p < sz(world); ++p) off[p + 1] += off[p];
  tokens.resize(pairs.size());
  std::vector<size_t> at(off.begin(), off.end() - 1);
  for (const auto& [peer, t] : pairs) tokens[at[sz(peer)]++] = t;
}

}  // namespace

void build_dispatch_plan(int rank, int world, int slots_per_gpu, const int32_t* home,
                         const int32_t* slot, const float* gate, size_t n, int k,
                         DispatchPlan& out) {
  out.rank = rank, out.world = world, out.slots = slots_per_gpu;
  out.home_tokens.clear(), out.local_tokens.clear();
  out.home_row.assign(n, -1);
  std::vector<std::pair<int32_t, uint32_t>> sends, recvs;
  std::vector<int32_t> seen(sz(world), -1);  // last token that reached each rank
  const size_t kk = sz(k);
  for (size_t t = 0; t < n; ++t) {
    const auto token = static_cast<uint32_t>(t);
    const bool mine = home[t] == rank;
    if (mine) out.home_row[t] = static_cast<int32_t>(out.home_tokens.size());
    if (mine) out.home_tokens.push_back(token);
    bool here = false;
    for (size_t j = 0; j < kk; ++j) {
      const int32_t g = slot[t * kk + j] / slots_per_gpu;
      if (seen[sz(g)] == static_cast<int32_t>(t)) continue;
      seen[sz(g)] = static_cast<int32_t>(t);
      if (g == rank) here = true;
      if (mine && g != rank) sends.emplace_back(g, token);
    }
    if (here && mine) out.local_tokens.push_back(token);
    if (here && !mine) recvs.emplace_back(home[t], token);
  }
  group_by_peer(sends, world, out.send_tokens, out.send_off);
  group_by_peer(recvs, world, out.recv_tokens, out.recv_off);

  // The work row of each token served here, then each local slot's rows.
  std::vector<int32_t> row(n, -1);
  for (size_t i = 0; i < out.recv_tokens.size(); ++i)
    row[out.recv_tokens[i]] = static_cast<int32_t>(i);
  for (size_t i = 0; i < out.local_tokens.size(); ++i)
    row[out.local_tokens[i]] = static_cast<int32_t>(out.recv_tokens.size() + i);
  const int32_t first_slot = rank * slots_per_gpu;
  out.slot_off.assign(sz(slots_per_gpu) + 1, 0);
  for (size_t p = 0; p < n * kk; ++p) {
    const int32_t local = slot[p] - first_slot;
    if (local >= 0 && local < slots_per_gpu) ++out.slot_off[sz(local) + 1];
  }
  for (size_t i = 0; i < sz(slots_per_gpu); ++i) out.slot_off[i + 1] += out.slot_off[i];
  out.slot_rows.resize(out.slot_off.back());
  out.slot_gate.resize(out.slot_off.back());
  std::vector<size_t> at(out.slot_off.begin(), out.slot_off.end() - 1);
  for (size_t p = 0; p < n * kk; ++p) {
    const int32_t local = slot[p] - first_slot;
    if (local < 0 || local >= slots_per_gpu) continue;
    const size_t i = at[sz(local)]++;
    out.slot_rows[i] = static_cast<uint32_t>(row[p / kk]);
    out.slot_gate[i] = gate[p];
  }
}

}  // namespace epbench

#pragma once
// Who sends which token where in one MoE layer of one step, seen from one rank. Every rank
// replays the same routing (the same Router as `evaluate`), so each derives its own plan
// without asking; the dispatch still exchanges counts, as a real dispatcher must, and the
// runtime checks them against the plan.
//
// A token's hidden state goes once to each distinct rank holding one of its chosen replicas
// (never to its own home rank), and comes back once from each, summed over that rank's experts
// (DESIGN.md "Cost model"): the byte counts `evaluate` predicts.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace epbench {

struct DispatchPlan {
  int rank = 0, world = 1, slots = 0;
  // Tokens of the step homed here, ascending; home_row[t] is t's row among them (-1 elsewhere).
  std::vector<uint32_t> home_tokens;
  std::vector<int32_t> home_row;
  // Per peer p, tokens homed here that p serves: send_tokens[send_off[p] .. send_off[p+1]).
  std::vector<uint32_t> send_tokens;
  std::vector<size_t> send_off;
  // Per peer q, tokens homed on q that this rank serves, in q's send order.
  std::vector<uint32_t> recv_tokens;
  std::vector<size_t> recv_off;
  // Work rows: the received tokens first (in receive order), then local_tokens: home tokens
  // with a replica here, which need no transfer.
  std::vector<uint32_t> local_tokens;
  // Per local slot i, the work rows it computes and their gate weights:
  // rows slot_rows[slot_off[i] .. slot_off[i+1]).
  std::vector<size_t> slot_off;
  std::vector<uint32_t> slot_rows;
  std::vector<float> slot_gate;

  size_t received() const { return recv_tokens.size(); }
  size_t work_rows() const { return recv_tokens.size() + local_tokens.size(); }
  size_t sent_to(int p) const { return send_off[sz_(p) + 1] - send_off[sz_(p)]; }
  size_t received_from(int q) const { return recv_off[sz_(q) + 1] - recv_off[sz_(q)]; }

 private:
  static size_t sz_(int v) { return static_cast<size_t>(v); }
};

// slot[t*k + j]: the replica slot (gpu * slots_per_gpu + index) serving token t's j-th expert;
// gate[t*k + j] its gate weight; home[t] the token's home rank. `out` is reused across calls.
void build_dispatch_plan(int rank, int world, int slots_per_gpu, const int32_t* home,
                         const int32_t* slot, const float* gate, size_t n, int k,
                         DispatchPlan& out);

}  // namespace epbench

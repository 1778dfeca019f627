#pragma once
// The analytic cost of one MoE layer in one step (docs/costmodel.md): alpha-beta links for the
// dispatch and combine all-to-alls, a roofline for the expert FFNs. Called once per layer and
// step by `evaluate`, and reusable by exact placement, lower bounds and the runtime's
// predictions: no allocation after construction, one pass over the token-expert pairs.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "costmodel/profile_tables.h"
#include "model/cluster.h"

namespace epbench {

struct CostOptions {
  // Hierarchical dispatch (DeepEP internode, Tutel 2DH): cross the network once per destination
  // node, to the GPU there with the sender's local index, which fans out over NVLink.
  bool hierarchical = false;
};

// What one layer of one step costs, per GPU and overall.
struct LayerCost {
  // Per GPU [G]. Bytes are sent by that GPU, dispatch plus combine.
  std::vector<double> dispatch_s, compute_s, combine_s;
  std::vector<uint64_t> bytes_same_node, bytes_other_node;
  std::vector<uint32_t> pairs;   // token-expert pairs computed on the GPU
  std::vector<uint32_t> active;  // resident experts with at least one token on the GPU
  // Each phase ends in a collective, so the layer costs the slowest GPU of each phase.
  double dispatch_max = 0, compute_max = 0, combine_max = 0;
  double total() const { return dispatch_max + compute_max + combine_max; }
};

// The same figures for the GPUs a layer touched only (the rest are all zero): `evaluate` at
// 1,024 GPUs prices a small batch in far fewer operations than it has GPUs. Entries [0, size)
// of each array, GPUs ascending; the combine equals the dispatch per GPU.
struct SparseLayerCost {
  size_t size = 0;
  std::vector<int32_t> gpu;
  std::vector<double> dispatch_s, compute_s;
  std::vector<uint64_t> bytes_same_node, bytes_other_node;
  std::vector<uint32_t> pairs, active;
  double dispatch_max = 0, compute_max = 0, combine_max = 0;
  double total() const { return dispatch_max + compute_max + combine_max; }
};

class CostModel {
 public:
  // d_model, d_ff: the expert FFN's sizes; the cluster's shape and slots must be final.
  CostModel(const ClusterSpec& cluster, int d_model, int d_ff, CostOptions opt = {});

  int num_gpus() const { return G_; }
  int slots_per_gpu() const { return S_; }
  const ClusterSpec& cluster() const { return c_; }
  const CostOptions& options() const { return opt_; }
  // The roofline's two terms: seconds per token of one expert, and its weight read.
  double token_time() const { return token_time_; }
  double weight_time() const { return weight_time_; }

  // Prices one layer: n tokens with their home GPUs, each with k token-expert pairs served by
  // replica slots slot[t*k + j] (slot = gpu * slots_per_gpu + index in the GPU's list, as
  // routing returns it). A token's hidden state goes once to each distinct GPU among its
  // slots; pairs on the home GPU cost no transfer. `out` is resized once and reused.
  void price_layer(const int32_t* home, const int32_t* slot, size_t n, int k, LayerCost& out) const;
  // The same, touched GPUs only: costs O(pairs + G / 8) instead of O(G * slots).
  // warm_slot [G*S] (only with models_weight_reuse()): how warm the slot's expert weights are
  // predicted to be in the GPU's cache (sim/weight_reuse.h), priced between the cold and the
  // warm tables (ProfileTables::reused_expert_time).
  void price_layer_sparse(const int32_t* home, const int32_t* slot, size_t n, int k,
                          SparseLayerCost& out, const uint8_t* warm_slot = nullptr) const;

  // Compute time of one GPU-resident expert that serves `tokens` tokens (0 when idle): the
  // cluster's profile interpolated where it has one (docs/profile.md), else the roofline.
  double expert_time(uint32_t tokens) const {
    if (tables_) return tables_->expert_time(tokens);
    return tokens == 0 ? 0 : std::max(token_time_ * tokens, weight_time_);
  }
  // The least an expert can cost: warm where the profile models weight reuse (lower bounds).
  // Where ranks take turns at a host's cores, a lone busy rank goes faster than the tables.
  double fastest_expert_time(uint32_t tokens) const {
    const double t =
        models_weight_reuse() ? tables_->warm_expert_time(tokens) : expert_time(tokens);
    return tables_ ? t * std::min(1.0, tables_->least_turns_ratio()) : t;
  }
  const ProfileTables* profile() const { return tables_.get(); }
  bool models_weight_reuse() const { return tables_ && tables_->models_weight_reuse(); }
  // alpha + bytes/beta of one link class, 0 when nothing is sent.
  static double link_time(const LinkSpec& link, double bytes, double bandwidth);
  uint64_t token_bytes() const { return token_bytes_; }  // one hidden state

 private:
  void count_flat(const int32_t* home, const int32_t* slot, size_t n, int k) const;
  void count_flat_mask(const int32_t* home, const int32_t* slot, size_t n, int k) const;
  size_t touched(SparseLayerCost& out) const;
  void count_hierarchical(const int32_t* home, const int32_t* slot, size_t n, int k) const;
  void count(const int32_t* home, const int32_t* slot, size_t n, int k) const;
  void finish(SparseLayerCost& out, const uint8_t* warm_slot) const;
  void finish_gpu(size_t g, size_t i, SparseLayerCost& out, const uint8_t* warm_slot) const;
  double side_time(uint64_t same, uint64_t other, uint64_t nic_tokens, double evicted) const;
  double row_moves_half(size_t g, double evicted) const;
  double compute_with_turns(const SparseLayerCost& out) const;

  ClusterSpec c_;
  int G_ = 0, S_ = 0, gpn_ = 1;
  uint64_t token_bytes_ = 0;   // one hidden state
  double flop_per_token_ = 0;  // 6 d_model d_ff: three GEMMs, 2 FLOP per multiply-add
  double weight_time_ = 0;     // 3 d_model d_ff bytes_per_weight / hbm_bw
  double nic_bandwidth_ = 0;   // other_node.bandwidth_Bps * gpus_per_nic
  // Reciprocals, so that pricing a layer multiplies instead of dividing (0: term vanishes).
  double token_time_ = 0;  // 6 d_model d_ff / gpu_flops
  double same_s_per_byte_ = 0, nic_s_per_byte_ = 0;
  CostOptions opt_;
  std::shared_ptr<const ProfileTables> tables_;  // null: the roofline and alpha-beta terms
  // Scratch, reused across calls (mutable: pricing is logically const).
  // Tokens sent and received per GPU and link class: [2g] other node, [2g + 1] same node.
  mutable std::vector<uint64_t> send_, recv_;
  mutable std::vector<uint64_t> local_;        // [G] home tokens with an expert on their home GPU
  bool count_local_ = false;                   // only row moves need local_
  mutable std::vector<uint32_t> slot_tokens_;  // [G*S]
  mutable std::vector<double> host_compute_;   // [R] one host's compute times (turns)
  // Lookup tables: integer division by a run-time divisor costs more than the rest of a pair.
  std::vector<int32_t> slot_gpu_;             // [G*S]
  std::vector<int32_t> gpu_node_;             // [G]
  std::vector<int32_t> nic_first_;            // [G] first GPU sharing g's NIC
  mutable std::vector<uint64_t> stamp_;       // [G] last token id that reached each GPU
  mutable std::vector<uint64_t> node_stamp_;  // [N]
  mutable uint64_t epoch_ = 0;
  // Counters are kept zero outside the GPUs of the layer being priced, which are those whose
  // stamp is at least layer_first_ (homes, relays and destinations all get stamped).
  mutable uint64_t layer_first_ = 0;
  // Up to 64 GPUs, flat: a token's destinations as a bit mask instead of stamps.
  bool use_masks_ = false;
  std::vector<uint64_t> slot_bit_;     // [G*S] 1 << GPU of the slot
  std::vector<uint64_t> node_mask_;    // [N] the node's GPUs
  mutable uint64_t touched_mask_ = 0;  // GPUs of the layer priced
};

}  // namespace epbench

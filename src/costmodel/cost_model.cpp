#include "costmodel/cost_model.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <string>

#include "common/error.h"
#include "common/numeric.h"

namespace epbench {

CostModel::CostModel(const ClusterSpec& cluster, int d_model, int d_ff, CostOptions opt)
    : c_(cluster),
      G_(cluster.num_gpus()),
      S_(cluster.slots_per_gpu),
      gpn_(cluster.gpus_per_node),
      opt_(opt) {
  if (G_ <= 0 || S_ <= 0 || gpn_ <= 0 || cluster.gpus_per_nic <= 0)
    throw InputError("cluster '" + cluster.name +
                     "': expected nodes, gpus_per_node, slots_per_gpu and gpus_per_nic > 0");
  if (d_model <= 0 || d_ff <= 0)
    throw InputError("cost model: expected d_model and d_ff > 0, got " + std::to_string(d_model) +
                     " and " + std::to_string(d_ff));
  token_bytes_ =
      static_cast<uint64_t>(d_model) * static_cast<uint64_t>(cluster.bytes_per_activation);
  const double ffn = static_cast<double>(d_model) * d_ff;
  flop_per_token_ = 6 * ffn;
  // Without a compute rate or memory bandwidth the corresponding roofline term vanishes.
  weight_time_ = cluster.hbm_bandwidth_Bps > 0
                     ? 3 * ffn * cluster.bytes_per_weight / cluster.hbm_bandwidth_Bps
                     : 0;
  nic_bandwidth_ = cluster.other_node.bandwidth_Bps * cluster.gpus_per_nic;
  token_time_ = cluster.gpu_flops > 0 ? flop_per_token_ / cluster.gpu_flops : 0;
  same_s_per_byte_ = cluster.same_node.bandwidth_Bps > 0 ? 1 / cluster.same_node.bandwidth_Bps : 0;
  nic_s_per_byte_ = nic_bandwidth_ > 0 ? 1 / nic_bandwidth_ : 0;
  if (cluster.profile) {  // measured for these sizes and this many GPUs, or refused
    check_profile_shape(*cluster.profile, d_model, d_ff, G_);
    tables_ = std::make_shared<const ProfileTables>(*cluster.profile);
    count_local_ = tables_->models_row_moves();
    host_compute_.assign(tables_->turns_ratio().size(), 0);  // sized, so copies keep it
  }
  send_.assign(2 * sz(G_), 0);
  recv_.assign(2 * sz(G_), 0);
  local_.assign(sz(G_), 0);
  stamp_.assign(sz(G_), 0);
  node_stamp_.assign(sz(cluster.nodes), 0);
  slot_tokens_.assign(sz(G_) * sz(S_), 0);
  for (int s = 0; s < G_ * S_; ++s) slot_gpu_.push_back(s / S_);
  for (int g = 0; g < G_; ++g) gpu_node_.push_back(g / gpn_);
  for (int g = 0; g < G_; ++g)
    nic_first_.push_back(g / cluster.gpus_per_nic * cluster.gpus_per_nic);
  use_masks_ = G_ <= 64 && !opt.hierarchical;
  if (use_masks_) {
    node_mask_.assign(sz(cluster.nodes), 0);
    for (int s = 0; s < G_ * S_; ++s) slot_bit_.push_back(uint64_t{1} << (s / S_));
    for (int g = 0; g < G_; ++g) node_mask_[sz(g / gpn_)] |= uint64_t{1} << g;
  }
}

double CostModel::link_time(const LinkSpec& link, double bytes, double bandwidth) {
  if (bytes <= 0) return 0;
  return link.latency_s + (bandwidth > 0 ? bytes / bandwidth : 0);
}

// Flat dispatch: the home GPU sends the token straight to every other destination GPU.
void CostModel::count_flat(const int32_t* home, const int32_t* slot, size_t n, int k) const {
  for (size_t t = 0; t < n; ++t) {
    const int h = home[t], hn = gpu_node_[sz(h)];
    const uint64_t id = ++epoch_;
    stamp_[sz(h)] = id;  // the home GPU needs no transfer
    // The sender's counts stay in registers: k read-modify-writes of one counter would wait
    // on each other through memory.
    uint64_t sent_same = 0, sent_other = 0, local = 0;
    for (int j = 0; j < k; ++j) {
      const int s = slot[t * sz(k) + sz(j)];
      ++slot_tokens_[sz(s)];
      const size_t g = sz(slot_gpu_[sz(s)]);
      local |= g == sz(h);
      // Branch-free: destinations are random, so branches on them mispredict half the time.
      const uint64_t fresh = stamp_[g] != id;  // 0 when this token already reached g
      stamp_[g] = id;
      const uint64_t same = gpu_node_[g] == hn;
      sent_same += fresh & same;
      sent_other += fresh & (same ^ 1);
      recv_[2 * g + same] += fresh;
    }
    send_[2 * sz(h)] += sent_other;
    send_[2 * sz(h) + 1] += sent_same;
    if (count_local_) local_[sz(h)] += local;
  }
}

// Flat dispatch up to 64 GPUs: the token's distinct destinations are the bits of the OR of
// its slots' GPUs, so no stamp is read and written per pair.
void CostModel::count_flat_mask(const int32_t* home, const int32_t* slot, size_t n, int k) const {
  uint64_t touched = 0;
  for (size_t t = 0; t < n; ++t) {
    const int h = home[t];
    uint64_t mask = 0;
    for (int j = 0; j < k; ++j) {
      const int s = slot[t * sz(k) + sz(j)];
      ++slot_tokens_[sz(s)];
      mask |= slot_bit_[sz(s)];
    }
    const uint64_t own = uint64_t{1} << h, node = node_mask_[sz(gpu_node_[sz(h)])];
    touched |= mask | own;
    if (count_local_) local_[sz(h)] += (mask & own) != 0;
    mask &= ~own;  // the home GPU needs no transfer
    uint64_t sent_same = 0, sent_other = 0;
    for (uint64_t m = mask & node; m; m &= m - 1, ++sent_same)
      ++recv_[2 * sz(std::countr_zero(m)) + 1];
    for (uint64_t m = mask & ~node; m; m &= m - 1, ++sent_other)
      ++recv_[2 * sz(std::countr_zero(m))];
    send_[2 * sz(h)] += sent_other;
    send_[2 * sz(h) + 1] += sent_same;
  }
  touched_mask_ = touched;
}

// Hierarchical dispatch: one network transfer per destination node, to the GPU there with the
// sender's local index (the relay), which forwards over NVLink to the node's other destinations.
void CostModel::count_hierarchical(const int32_t* home, const int32_t* slot, size_t n,
                                   int k) const {
  for (size_t t = 0; t < n; ++t) {
    const int h = home[t], hn = gpu_node_[sz(h)], local = h - hn * gpn_;
    const uint64_t id = ++epoch_;
    stamp_[sz(h)] = id;
    node_stamp_[sz(hn)] = id;
    uint64_t sent_other = 0, sent_same = 0, at_home = 0;  // in registers (see count_flat)
    for (int j = 0; j < k; ++j) {
      const int s = slot[t * sz(k) + sz(j)];
      ++slot_tokens_[sz(s)];
      const int g = slot_gpu_[sz(s)], gn = gpu_node_[sz(g)];
      at_home |= g == h;
      const int relay = gn * gpn_ + local;
      if (node_stamp_[sz(gn)] != id) {  // first destination on a remote node
        node_stamp_[sz(gn)] = id;
        stamp_[sz(relay)] = id;
        ++sent_other;
        ++recv_[2 * sz(relay)];
      }
      if (stamp_[sz(g)] == id) continue;
      stamp_[sz(g)] = id;
      if (gn == hn)  // NVLink hop from the home or the relay
        ++sent_same;
      else
        ++send_[2 * sz(relay) + 1];
      ++recv_[2 * sz(g) + 1];
    }
    send_[2 * sz(h)] += sent_other;
    send_[2 * sz(h) + 1] += sent_same;
    if (count_local_) local_[sz(h)] += at_home;
  }
}

void CostModel::count(const int32_t* home, const int32_t* slot, size_t n, int k) const {
  layer_first_ = epoch_ + 1;
  if (opt_.hierarchical)
    count_hierarchical(home, slot, n, k);
  else if (use_masks_)
    count_flat_mask(home, slot, n, k);
  else
    count_flat(home, slot, n, k);
}

// The GPUs of the layer just counted, ascending, into out.gpu; returns how many.
size_t CostModel::touched(SparseLayerCost& out) const {
  size_t m = 0;
  if (use_masks_) {
    for (uint64_t b = touched_mask_; b; b &= b - 1) out.gpu[m++] = std::countr_zero(b);
    return m;
  }
  for (size_t g = 0; g < sz(G_); ++g) {  // branch-free compaction of the stamped GPUs
    out.gpu[m] = static_cast<int32_t>(g);
    m += stamp_[g] >= layer_first_;
  }
  return m;
}

void CostModel::price_layer(const int32_t* home, const int32_t* slot, size_t n, int k,
                            LayerCost& out) const {
  thread_local SparseLayerCost sparse;  // the dense form is the sparse one scattered
  price_layer_sparse(home, slot, n, k, sparse);
  const size_t G = sz(G_);
  for (auto* v : {&out.dispatch_s, &out.compute_s, &out.combine_s}) v->assign(G, 0);
  out.bytes_same_node.assign(G, 0);
  out.bytes_other_node.assign(G, 0);
  out.pairs.assign(G, 0);
  out.active.assign(G, 0);
  for (size_t i = 0; i < sparse.size; ++i) {
    const size_t g = sz(sparse.gpu[i]);
    out.dispatch_s[g] = out.combine_s[g] = sparse.dispatch_s[i];
    out.compute_s[g] = sparse.compute_s[i];
    out.bytes_same_node[g] = sparse.bytes_same_node[i];
    out.bytes_other_node[g] = sparse.bytes_other_node[i];
    out.pairs[g] = sparse.pairs[i];
    out.active[g] = sparse.active[i];
  }
  out.dispatch_max = sparse.dispatch_max;
  out.compute_max = sparse.compute_max;
  out.combine_max = sparse.combine_max;
}

void CostModel::price_layer_sparse(const int32_t* home, const int32_t* slot, size_t n, int k,
                                   SparseLayerCost& out, const uint8_t* warm_slot) const {
  count(home, slot, n, k);
  finish(out, warm_slot);
}

// Converts the token counters into bytes and times. The combine mirrors the dispatch (each
// destination returns one partial sum per token along the same path), so it sends what the
// dispatch received and costs the same; links are full duplex, so a GPU's all-to-all takes the
// longer of its sending and its receiving side. Resets the counters it read.
void CostModel::finish(SparseLayerCost& out, const uint8_t* warm_slot) const {
  const size_t G = sz(G_);
  for (auto* v : {&out.dispatch_s, &out.compute_s}) v->resize(G);
  for (auto* v : {&out.bytes_same_node, &out.bytes_other_node}) v->resize(G);
  for (auto* v : {&out.pairs, &out.active}) v->resize(G);
  out.gpu.resize(G + 1);
  const size_t m = touched(out);
  out.size = m;
  out.dispatch_max = out.compute_max = 0;
  for (size_t i = 0; i < m; ++i) finish_gpu(sz(out.gpu[i]), i, out, warm_slot);
  for (size_t i = 0; i < m; ++i) {
    const size_t g = sz(out.gpu[i]);
    send_[2 * g] = send_[2 * g + 1] = recv_[2 * g] = recv_[2 * g + 1] = local_[g] = 0;
    std::fill_n(slot_tokens_.begin() + static_cast<std::ptrdiff_t>(g * sz(S_)), S_, 0u);
  }
  if (tables_ && !tables_->turns_ratio().empty()) out.compute_max = compute_with_turns(out);
  out.combine_max = out.dispatch_max;
  // A profiled dispatch first exchanges its counts (measured on its own); the combine does not.
  if (tables_ && m > 0) {
    const uint32_t most =
        *std::max_element(out.active.begin(), out.active.begin() + static_cast<std::ptrdiff_t>(m));
    out.dispatch_max += tables_->count_exchange_s(tables_->evicted_by(most));
  }
}

// Where a host's R ranks take turns at its cores (docs/profile.md, "Turns"), its expert phase is
// not its slowest rank's time: while k ranks still compute, each goes at the pace p[k-1] of the
// all-busy one the tables price (costmodel/core_sharing.h: one pace where some of the host's
// ranks have no work in the layer, another where every one has some). With the host's compute
// times sorted u_1 >= ... >= u_R (u_{R+1} = 0), the phase lasts sum_k (u_k - u_{k+1}) p[k-1].
// Hosts are consecutive GPUs, R each, as the launcher fills them.
double CostModel::compute_with_turns(const SparseLayerCost& out) const {
  const CoreSharing& sharing = tables_->core_sharing();
  const size_t R = sharing.some_idle.size();
  double longest = 0;
  for (size_t i = 0; i < out.size;) {
    const size_t host = sz(out.gpu[i]) / R;
    size_t busy = 0;  // the host's GPUs with work, at most R
    for (; i < out.size && sz(out.gpu[i]) / R == host; ++i)
      if (out.compute_s[i] > 0) host_compute_[busy++] = out.compute_s[i];
    const std::vector<double>& pace = busy == R ? sharing.all_working : sharing.some_idle;
    const auto u = host_compute_.begin();
    std::sort(u, u + static_cast<std::ptrdiff_t>(busy), std::greater<>());
    double phase = 0;
    for (size_t k = 0; k < busy; ++k) phase += (u[k] - (k + 1 < busy ? u[k + 1] : 0)) * pace[k];
    longest = std::max(longest, phase);
  }
  return longest;
}

// One side (send or receive) of a GPU's all-to-all: `same` and `other` tokens over each link
// class, nic_tokens what its NIC group moves. A profile prices each class as its measured
// pattern with the GPU's own bytes; the roofline as alpha + bytes / beta.
double CostModel::side_time(uint64_t same, uint64_t other, uint64_t nic_tokens,
                            double evicted) const {
  const double tb = dbl(token_bytes_);
  if (tables_ && tables_->has(ProfileTables::kSameNode) &&
      (other == 0 || tables_->has(ProfileTables::kOtherNode)))
    return tables_->link_time(ProfileTables::kSameNode, dbl(same) * tb, evicted) +
           tables_->link_time(ProfileTables::kOtherNode, dbl(other) * tb, evicted);
  return (same ? c_.same_node.latency_s + dbl(same) * tb * same_s_per_byte_ : 0) +
         (other ? c_.other_node.latency_s + dbl(nic_tokens) * tb * nic_s_per_byte_ : 0);
}

// A profiled CPU rank moves its rows itself (Profile::row_moves): the dispatch packs what it
// sends and gathers its local tokens, the combine adds as many rows back; where the wire is not
// fp32 the received rows are converted both ways too. Half the move to each side, as the
// combine mirrors the dispatch.
double CostModel::row_moves_half(size_t g, double evicted) const {
  if (!tables_ || !tables_->models_row_moves()) return 0;
  uint64_t rows = send_[2 * g] + send_[2 * g + 1] + local_[g];
  if (tables_->wire_converts()) rows += recv_[2 * g] + recv_[2 * g + 1];
  return 0.5 * tables_->row_move_time(static_cast<double>(rows), evicted);
}

void CostModel::finish_gpu(size_t g, size_t i, SparseLayerCost& out,
                           const uint8_t* warm_slot) const {
  double compute = 0;
  uint32_t pairs = 0, active = 0;
  for (size_t s = g * sz(S_); s < (g + 1) * sz(S_); ++s) {
    const uint8_t warmth = warm_slot && tables_ ? warm_slot[s] : 0;
    compute += warmth ? tables_->reused_expert_time(slot_tokens_[s], warmth)
                      : expert_time(slot_tokens_[s]);
    pairs += slot_tokens_[s];
    active += slot_tokens_[s] > 0;
  }
  out.compute_s[i] = compute;
  out.pairs[i] = pairs;
  out.active[i] = active;
  out.compute_max = std::max(out.compute_max, compute);
  // GPUs behind one NIC share it: g's network side waits for its whole NIC group.
  uint64_t nic_send = send_[2 * g], nic_recv = recv_[2 * g];
  const size_t per_nic = sz(c_.gpus_per_nic);
  if (per_nic > 1 && (nic_send || nic_recv)) {
    const size_t first = sz(nic_first_[g]), last = std::min(sz(G_), first + per_nic);
    nic_send = nic_recv = 0;
    for (size_t q = first; q < last; ++q) nic_send += send_[2 * q], nic_recv += recv_[2 * q];
  }
  // The layer's expert phase on g, between its dispatch and its combine, evicts their buffers.
  const double evicted = tables_ ? tables_->evicted_by(active) : 1;
  const double send = side_time(send_[2 * g + 1], send_[2 * g], nic_send, evicted);
  const double recv = side_time(recv_[2 * g + 1], recv_[2 * g], nic_recv, evicted);
  out.dispatch_s[i] = std::max(send, recv) + row_moves_half(g, evicted);
  out.bytes_same_node[i] = (send_[2 * g + 1] + recv_[2 * g + 1]) * token_bytes_;
  out.bytes_other_node[i] = (send_[2 * g] + recv_[2 * g]) * token_bytes_;
  out.dispatch_max = std::max(out.dispatch_max, out.dispatch_s[i]);
}

}  // namespace epbench

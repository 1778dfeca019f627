#pragma once
// A profile (costmodel/profile.h) made into what the cost model prices with (docs/profile.md):
// - y(x) piecewise linear through the grid points, exact at each; below the first point the
//   first value; beyond the last, the last segment's line (its slope carried on);
// - an expert serving n tokens costs ffn_time_s[A-1][n] / A, the row with the most active
//   experts (weights cycled through caches as a run cycles them), per expert;
// - weight reuse (version 2 profiles): an expert whose weights are still in the last-level
//   cache costs ffn/warm_time_s(n), never more than the cold time; the caller decides how warm
//   each expert is (sim/weight_reuse.h) from how many other experts were read since it;
// - its warmth (version 3, the reuse curves): after d bytes of other experts, the share of the
//   cold-to-warm saving that a curve kept, (cold - t(d)) / (cold - warm) at one token, t the
//   curve fitted non-decreasing (costmodel/isotonic.h), cold its last point; 0 from the
//   curve's end on; between the curve of others read from memory and the one of others read
//   from the cache by the share of them read from the cache. Without curves an expert is
//   warm while it and those read since fit in the cache share;
// - a GPU sending B bytes over a pattern costs a2a_time_s[p](B / destinations): the measured
//   all-to-all that moves the same bytes spread evenly over the pattern's destinations; with
//   back-to-back tables (version 4) a GPU that ran `a` of the profile's A experts costs
//   hot + min(1, a / A) (after - hot), its buffers evicted by its expert phase in proportion;
// - row moves (version 4, CPU): a GPU packing and unpacking r rows (sent, local, and received
//   where the wire converts) costs rows/move_time_s(r), half in the dispatch, half the combine;
// - turns (ffn/turns_ratio): where a host's ranks outnumber its hardware threads, the cost
//   model prices a host's expert phase as ranks sharing cores (costmodel/core_sharing.h,
//   CostModel::finish), from the measured lone-rank pace.
// Precomputed at construction; pricing allocates nothing.
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "costmodel/core_sharing.h"
#include "costmodel/profile.h"

namespace epbench {

class PiecewiseLinear {
 public:
  PiecewiseLinear() = default;
  // x strictly ascending, as many y; at least one point.
  PiecewiseLinear(std::vector<double> x, std::vector<double> y);
  double operator()(double x) const;
  bool empty() const { return x_.empty(); }

 private:
  std::vector<double> x_, y_;
};

class ProfileTables {
 public:
  enum Pattern { kSameNode = 0, kOtherNode = 1 };
  explicit ProfileTables(const Profile& p);

  // One expert's FFN time for `tokens` tokens (0 when idle).
  double expert_time(uint32_t tokens) const {
    if (tokens < dense_.size()) return dense_[tokens];
    return ffn_(static_cast<double>(tokens));
  }
  // The same with its weights read from the cache (expert_time without a warm table).
  double warm_expert_time(uint32_t tokens) const {
    if (warm_dense_.empty()) return expert_time(tokens);
    if (tokens < warm_dense_.size()) return warm_dense_[tokens];
    return std::min(warm_(static_cast<double>(tokens)), expert_time(tokens));
  }
  // Whether the profile measured weight reuse: a warm table and a known cache share.
  bool models_weight_reuse() const { return !warm_dense_.empty() && cache_bytes_ > 0; }
  // How warm an expert is found after `others` other experts' weights were read since it on its
  // rank, the share `hit` of them (0..1) read from the cache: 0 cold .. kWarm warm (0 from
  // reuse_horizon() on); linear between whole counts (a shared cache's reads per rank).
  static constexpr uint8_t kWarm = 255;
  uint8_t warmth(double others, double hit) const {
    const auto below = static_cast<size_t>(others);
    if (below >= kept_miss_.size()) return 0;
    const double above = others - static_cast<double>(below);
    const double kept = (1 - above) * kept_at(below, hit) + above * kept_at(below + 1, hit);
    return static_cast<uint8_t>(kept * kWarm + 0.5);
  }
  size_t reuse_horizon() const { return kept_miss_.size(); }
  // Ranks that share one last-level cache, consecutive ranks as the launcher fills hosts: a CPU
  // host's ranks share its L3 (the curves were measured with all of them reading), a GPU has
  // its own.
  size_t cache_sharers() const { return cache_sharers_; }
  // An expert of `tokens` tokens found that warm: between the cold and the warm table.
  double reused_expert_time(uint32_t tokens, uint8_t warmth) const {
    const double cold = expert_time(tokens);
    return cold - (cold - warm_expert_time(tokens)) * warmth / kWarm;
  }
  // Where a host's ranks take turns at its cores: [k-1] the expert phase's time with k of the
  // host's R ranks busy over its time with all R (the tables' times), as measured; empty
  // otherwise.
  const std::vector<double>& turns_ratio() const { return turns_; }
  // What the cost model prices with (costmodel/core_sharing.h): the pace while k of the R
  // ranks still compute, in a layer where some have no work / where every one has some.
  const CoreSharing& core_sharing() const { return sharing_; }
  double least_turns_ratio() const {  // 1 without turns: what one busy rank saves at most
    return turns_.empty() ? 1.0 : *std::min_element(turns_.begin(), turns_.end());
  }
  uint64_t expert_bytes() const { return expert_bytes_; }  // one expert's weights as stored
  bool has(Pattern p) const { return !a2a_[p].empty(); }
  // How much of the eviction the profile timed its all-to-alls after (an expert phase of its
  // most active experts) a layer whose GPU ran `active` experts makes: their share, at most 1.
  double evicted_by(uint32_t active) const { return std::min(1.0, active * per_active_); }
  // The all-to-all time of a GPU sending `bytes` in all over pattern p (0 when nothing), its
  // buffers `evicted` (0: back to back, 1: after the profile's expert phase), linear between.
  double link_time(Pattern p, double bytes, double evicted = 1) const {
    if (!(bytes > 0)) return 0;
    const double per_destination = bytes * per_destination_[p], hot = a2a_hot_[p](per_destination);
    return hot + evicted * (a2a_[p](per_destination) - hot);
  }
  double count_exchange_s(double evicted = 1) const {
    return count_hot_s_ + evicted * (count_s_ - count_hot_s_);
  }
  // Packing `rows` rows and adding as many back (Profile::row_moves; 0 for none).
  bool models_row_moves() const { return !row_moves_.empty(); }
  // Its buffers `evicted` as link_time's.
  double row_move_time(double rows, double evicted = 1) const {
    if (!(rows > 0)) return 0;
    const double hot = row_moves_hot_(rows);
    return hot + evicted * (row_moves_(rows) - hot);
  }
  // Rows are converted to and from the wire's dtype (not fp32): received ones move too.
  bool wire_converts() const { return wire_converts_; }

 private:
  void set_warm_table(const Profile& p);
  void set_warmth(const Profile& p);
  double kept_at(size_t others, double hit) const {
    if (others >= kept_miss_.size()) return 0;
    return hit * kept_hit_[others] + (1 - hit) * kept_miss_[others];
  }
  PiecewiseLinear ffn_;
  std::vector<double> dense_;  // expert_time for 0..last grid point, by index
  PiecewiseLinear warm_;
  std::vector<double> warm_dense_;  // warm_expert_time likewise; empty: no warm table
  // [others read since]: the share of the cold-to-warm saving kept, the others read from memory
  // or from the cache (equal length, the longer curve's, 0-padded).
  std::vector<double> kept_miss_, kept_hit_;
  uint64_t cache_bytes_ = 0, expert_bytes_ = 0;
  size_t cache_sharers_ = 1;
  std::vector<double> turns_;
  CoreSharing sharing_;
  std::array<PiecewiseLinear, 2> a2a_, a2a_hot_;  // hot: a2a_'s copy where not measured
  std::array<double, 2> per_destination_{};       // 1 / destinations
  double count_s_ = 0, count_hot_s_ = 0, per_active_ = 0;
  PiecewiseLinear row_moves_, row_moves_hot_;
  bool wire_converts_ = false;
};

}  // namespace epbench

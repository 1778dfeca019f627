#pragma once
// A measured cost profile (docs/profile.md): what `epbench profile` timed on one machine and
// backend, the expert FFN over tokens per expert x active experts and the all-to-all over bytes
// per destination x destination pattern. The cost model interpolates it (profile_tables.h) in
// place of its roofline and alpha-beta terms.
#include <cstdint>
#include <string>
#include <vector>

namespace epbench {

// Destination patterns of the all-to-all, in the order of the file's a2a/time_s rows.
inline constexpr const char* kPatternSameNode = "same_node";    // to the rank's node only
inline constexpr const char* kPatternOtherNode = "other_node";  // to other nodes only
// What the all-to-all's buffers had seen before each timed call (Profile::a2a_cache_state).
inline constexpr const char* kCacheHot = "hot";                     // the call before
inline constexpr const char* kCacheAfterExperts = "after_experts";  // an expert phase

struct Profile {
  std::string path;  // where it was read from or is written to (errors name it)
  std::string backend, dtype, created_at, command_line;
  int64_t d_model = 0, d_ff = 0, world_size = 0, ranks_per_node = 0, repetitions = 0;
  int64_t weight_sets = 1;  // sets of experts' weights the FFN calls rotated through
  int64_t sweeps = 1;       // times the grid was measured; each point is its median sweep
  std::vector<std::string> hosts;
  // Expert FFN: the slowest rank's time running `active` experts of `tokens` tokens each.
  std::vector<int64_t> ffn_tokens;  // [T] ascending, >= 1
  std::vector<int64_t> ffn_active;  // [A] ascending, >= 1
  std::vector<double> ffn_time_s;   // [A, T]
  // Weight reuse (version 2; empty or 0 in version 1 files: not modelled): one expert of
  // `tokens` tokens whose weights were read moments before and are still in the last-level
  // cache, and the share of that cache one rank has (hwloc's caches / ranks on the host).
  std::vector<double> ffn_warm_time_s;  // [T]
  int64_t cache_bytes_per_rank = 0;
  // The reuse curves (version 3; empty before: the cache share alone decides, an expert is warm
  // while it fits): one expert of one token read again after ffn_reuse_bytes[d] of other
  // experts' weights were read since it, by every rank of the host at once; the others read
  // from memory (reuse_time_s) or from the cache as far as it holds them (reuse_loop_time_s:
  // the reads loop over the expert and the others).
  std::vector<int64_t> ffn_reuse_bytes;       // [D] ascending, >= 1
  std::vector<double> ffn_reuse_time_s;       // [D]
  std::vector<double> ffn_reuse_loop_time_s;  // [D]
  // Turns (optional; only where a host's ranks outnumber its hardware threads): [k-1] is the
  // time of an expert phase in which k of a host's R ranks compute, over the time when all R
  // do (the table's), k = 1..R. Empty: ranks have cores of their own.
  std::vector<double> ffn_turns_ratio;  // [R]
  // All-to-all: the slowest rank's time when every rank sends `bytes` to each destination of
  // the pattern (a2a_destinations of them) and nothing elsewhere.
  std::vector<std::string> a2a_patterns;  // [P] kPatternSameNode, kPatternOtherNode
  std::vector<int64_t> a2a_destinations;  // [P] destinations per rank
  std::vector<int64_t> a2a_bytes;         // [M] ascending, >= 1
  std::vector<double> a2a_time_s;         // [P, M]
  double count_exchange_s = 0;            // the dispatch's count all-to-all (one word per rank)
  // What the all-to-all's buffers had seen before each timed call: kCacheAfterExperts (version
  // 4), an untimed expert phase of the most active experts, as a step runs one between its
  // dispatch and its combine, its weights streaming through the caches; kCacheHot (before
  // version 4), only the call before, back to back.
  std::string a2a_cache_state = kCacheHot;
  // The same calls back to back (version 4; empty and 0 before, where the tables above were
  // timed so): a layer whose expert phase read fewer experts' weights finds its buffers between.
  std::vector<double> a2a_hot_time_s;  // [P, M]
  double count_exchange_hot_s = 0;
  // Row moves (version 4, CPU backend; empty: not modelled): the time to pack `rows` hidden-state
  // rows of d_model into a send buffer in the wire's dtype and to add as many returned partial
  // sums back into their rows (a dispatch's pack and a combine's unpack), after an expert phase
  // as above.
  std::vector<int64_t> row_moves;           // [N] ascending, >= 1
  std::vector<double> row_move_time_s;      // [N]
  std::vector<double> row_move_hot_time_s;  // [N] the same back to back
};

// One expert's weights as the profiled backend holds them: the CPU keeps fp32 whatever the
// dtype, a GPU its dtype.
uint64_t expert_weight_bytes(const Profile& p);
// Ranks on each host (world_size over hosts; the launcher fills hosts evenly).
int64_t ranks_per_host(const Profile& p);

// Writes atomically (complete or not at all); throws InputError on failure.
void write_profile(const std::string& path, const Profile& p);
// Reads and validates every field; InputError "FILE: FIELD: expected ..., got ..." otherwise.
Profile read_profile(const std::string& path);
// The profile was measured for these sizes and this job size (InputError naming the field).
void check_profile_shape(const Profile& p, int d_model, int d_ff, int world_size);
// ... and on this backend and dtype (`run`).
void check_profile_backend(const Profile& p, const std::string& backend, const std::string& dtype);

}  // namespace epbench

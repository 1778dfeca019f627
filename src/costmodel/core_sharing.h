#pragma once
// How a host's expert phase goes where its R ranks outnumber its cores (docs/profile.md,
// "Turns"). The OS spreads the ranks over the cores, m = ceil(R / C) on the busiest, in an
// arrangement that a profile cannot know and that persists over a run; ranks on one core take
// turns at it. The profile measures a phase's pace with k ranks busy and the others idle
// (ffn/turns_ratio) under the one arrangement its job had: with 4 ranks on 2 cores, 2 busy ranks
// measured 0.43, 0.49, 0.50, 0.67 and 0.74 of the all-busy time in five profiles, as the 2 busy
// ranks of each window shared a core or did not. These are what the cost model prices with
// instead.
#include <vector>

namespace epbench {

// E[the most of k busy ranks on one core] for k = 1..R ([k-1]), the R ranks spread in turn
// over C cores (ceil or floor of R / C each), every arrangement alike, the k busy ones any k.
// Exact (a count over the cores of the ways that keep every core at or below a bound).
std::vector<double> expected_busiest_core(int ranks, int cores);

// The pace of a host's phase while k of its R ranks still compute ([k-1]), over the all-busy
// pace of the tables, from the measured lone-rank pace `alone` (ffn/turns_ratio[0]): the
// busiest core's count of k busy ranks, b, mapped linearly from 1 (alone) to its count with all
// R busy (pace 1). A core holds round(1 / alone) ranks (its slowdown with all busy), within 1..R.
//   some_idle:   b as expected over the arrangements (some of the host's ranks have no work);
//   all_working: b = min(k, its count with all busy), the ranks still computing packed onto
//                the fewest cores. Measured here (docs/validate.md, run T): where every rank
//                has work, the ranks that finish first do not leave their cores to the others
//                (they go on through the combine and the next dispatch, which wait on every
//                rank), and the steps follow the packed pace, not the expected one.
struct CoreSharing {
  std::vector<double> some_idle, all_working;
};
CoreSharing core_sharing(int ranks, double alone);

}  // namespace epbench

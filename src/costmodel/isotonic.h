#pragma once
// The least-squares non-decreasing fit of a sequence (isotonic regression, pool adjacent
// violators): where a point falls below the one before it, both are replaced by their mean,
// and so on until nothing falls. A reuse curve's time can only rise as more is read between
// two reads of an expert; a noisy point is averaged with its neighbours, not carried on.
#include <vector>

namespace epbench {

// y's closest non-decreasing sequence, every point weighted alike.
std::vector<double> non_decreasing_fit(const std::vector<double>& y);

}  // namespace epbench

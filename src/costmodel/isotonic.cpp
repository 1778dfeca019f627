#include "costmodel/isotonic.h"

#include <cstddef>

namespace epbench {

std::vector<double> non_decreasing_fit(const std::vector<double>& y) {
  struct Block {
    double sum;
    size_t count;
    double mean() const { return sum / static_cast<double>(count); }
  };
  std::vector<Block> blocks;
  for (double v : y) {
    blocks.push_back({v, 1});
    while (blocks.size() > 1 && blocks[blocks.size() - 2].mean() > blocks.back().mean()) {
      const Block last = blocks.back();
      blocks.pop_back();
      blocks.back().sum += last.sum;
      blocks.back().count += last.count;
    }
  }
  std::vector<double> fit;
  fit.reserve(y.size());
  for (const Block& b : blocks) fit.insert(fit.end(), b.count, b.mean());
  return fit;
}

}  // namespace epbench

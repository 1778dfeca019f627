#pragma once
// Shared by the FFN backend tests: seeded experts loaded into a backend, seeded hidden rows,
// and a group of busy experts with uneven row counts (one expert with a single row).
#include <cmath>
#include <cstddef>
#include <vector>

#include "runtime/ffn_backend.h"
#include "runtime/seeded_values.h"

namespace epbench::test {

inline void load_experts(FfnBackend& b, int d, int f, size_t shards, DType dtype) {
  for (size_t e = 0; e < shards; ++e) {
    ExpertWeightsF32 w;
    make_expert_weights(3, 0, static_cast<int>(e), d, f, dtype, w);
    b.load(e, w.gate.data(), w.up.data(), w.down.data());
  }
}

inline std::vector<float> hidden_rows(size_t rows, int d, DType dtype) {
  std::vector<float> x(rows * size_t(d));
  for (size_t r = 0; r < rows; ++r) make_hidden_state(5, r, 0, d, dtype, x.data() + r * size_t(d));
  return x;
}

// Experts 2, 0, 3 of 4 shards with 5, 1 and 7 rows.
inline ExpertGroup uneven_group(int d) {
  ExpertGroup g;
  g.width = size_t(d);
  g.add(2, 5), g.add(0, 1), g.add(3, 7);
  return g;
}

// Row by row ||a - b|| / ||b||, the largest.
inline double max_row_error(const std::vector<float>& a, const std::vector<float>& b, int d) {
  double worst = 0;
  for (size_t r = 0; r < b.size() / size_t(d); ++r) {
    double err = 0, norm = 0;
    for (size_t c = r * size_t(d); c < (r + 1) * size_t(d); ++c)
      err += (double(a[c]) - b[c]) * (double(a[c]) - b[c]), norm += double(b[c]) * b[c];
    worst = std::fmax(worst, std::sqrt(err / norm));
  }
  return worst;
}

}  // namespace epbench::test

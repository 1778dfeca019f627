// The non-decreasing least-squares fit the reuse curves are smoothed with (costmodel/isotonic.h).
#include <gtest/gtest.h>

#include <random>

#include "costmodel/isotonic.h"

namespace epbench {
namespace {

TEST(Isotonic, KeepsANonDecreasingSequence) {
  const std::vector<double> y{1, 1, 2, 5, 5, 7};
  EXPECT_EQ(non_decreasing_fit(y), y);
  EXPECT_TRUE(non_decreasing_fit({}).empty());
}

TEST(Isotonic, PoolsViolatorsIntoTheirMean) {
  EXPECT_EQ(non_decreasing_fit({3, 1}), (std::vector<double>{2, 2}));
  // 4 > 2 pools to 3, then 3 > 0 pools all three to 2; 5 stays.
  EXPECT_EQ(non_decreasing_fit({4, 2, 0, 5}), (std::vector<double>{2, 2, 2, 5}));
  EXPECT_EQ(non_decreasing_fit({1, 6, 2, 4}), (std::vector<double>{1, 4, 4, 4}));
}

// Against every other non-decreasing candidate the fit is closest: no small move of a block
// that keeps the order lowers the squared error, and the fit keeps the sum (each block's mean).
TEST(Isotonic, IsTheClosestNonDecreasingSequence) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 1);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<double> y(1 + trial % 12);
    for (size_t i = 0; i < y.size(); ++i) y[i] = 0.3 * double(i) + noise(rng);
    const std::vector<double> f = non_decreasing_fit(y);
    ASSERT_EQ(f.size(), y.size());
    double sum_y = 0, sum_f = 0, err = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      if (i) {
        EXPECT_LE(f[i - 1], f[i]);
      }
      sum_y += y[i], sum_f += f[i], err += (f[i] - y[i]) * (f[i] - y[i]);
    }
    EXPECT_NEAR(sum_f, sum_y, 1e-9);
    for (size_t i = 0; i < y.size(); ++i)
      for (double step : {-1e-3, 1e-3}) {  // move point i's block by step where order allows
        std::vector<double> g = f;
        for (size_t j = 0; j < g.size(); ++j)
          if (f[j] == f[i]) g[j] += step;
        bool ordered = true;
        double err_g = 0;
        for (size_t j = 0; j < g.size(); ++j) {
          if (j && g[j - 1] > g[j]) ordered = false;
          err_g += (g[j] - y[j]) * (g[j] - y[j]);
        }
        if (ordered) {
          EXPECT_GE(err_g, err - 1e-12) << trial;
        }
      }
  }
}

}  // namespace
}  // namespace epbench

// The reference check's own parts: its weights, computed by a second implementation of the
// weight formula, equal the shards'; its tolerance is tight enough to catch a 1 % error.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/reference_check.h"
#include "runtime/seeded_values.h"

namespace epbench {
namespace {

void expect_equal_weights(uint64_t seed, int layer, int expert, int d, int f, DType dtype) {
  ExpertWeightsF32 shard, ref;
  make_expert_weights(seed, layer, expert, d, f, dtype, shard);
  reference_expert_weights(seed, layer, expert, d, f, dtype, ref);
  EXPECT_EQ(shard.gate, ref.gate) << dtype_name(dtype) << " layer " << layer << " e " << expert;
  EXPECT_EQ(shard.up, ref.up) << dtype_name(dtype) << " layer " << layer << " e " << expert;
  EXPECT_EQ(shard.down, ref.down) << dtype_name(dtype) << " layer " << layer << " e " << expert;
}

TEST(ReferenceCheck, ItsWeightsEqualTheShardsInBothDtypes) {
  for (DType dtype : {DType::kFp32, DType::kBf16})
    for (int layer : {0, 3})
      for (int expert : {0, 1, 255}) expect_equal_weights(7, layer, expert, 32, 48, dtype);
}

TEST(ReferenceCheck, WeightsDependOnEveryKeyAndKeepTheirScale) {
  ExpertWeightsF32 a, b;
  reference_expert_weights(1, 0, 0, 32, 64, DType::kFp32, a);
  reference_expert_weights(1, 0, 1, 32, 64, DType::kFp32, b);
  EXPECT_NE(a.gate, b.gate);  // another expert
  EXPECT_NE(a.gate, a.up);    // another matrix
  reference_expert_weights(1, 1, 0, 32, 64, DType::kFp32, b);
  EXPECT_NE(a.gate, b.gate);  // another layer
  reference_expert_weights(2, 0, 0, 32, 64, DType::kFp32, b);
  EXPECT_NE(a.gate, b.gate);  // another seed
  for (float v : a.gate) EXPECT_LE(std::abs(v), 1 / std::sqrt(32.f));
  for (float v : a.down) EXPECT_LE(std::abs(v), 1 / std::sqrt(64.f));
}

TEST(ReferenceCheck, Bf16WeightsHoldEightSignificantBits) {
  ExpertWeightsF32 w;
  reference_expert_weights(1, 0, 0, 16, 16, DType::kBf16, w);
  for (float v : w.gate) EXPECT_EQ(v, round_bf16(v));
}

// At the tests' 32 x 64 experts with k = 2, a 1 % error must fail in bf16 and fp32 alike, and
// bf16's tolerance must still exceed one rounding (2^-8) so a correct run passes.
TEST(ReferenceCheck, ToleranceCatchesOnePercentAtTestSizes) {
  const double bf16 = check_tolerance(DType::kBf16, 32, 64, 2);
  EXPECT_GT(bf16, std::ldexp(1.0, -8));
  EXPECT_LT(bf16, 0.0085);
  const double fp32 = check_tolerance(DType::kFp32, 32, 64, 2);
  EXPECT_GT(fp32, 10 * std::ldexp(1.0, -24));  // sqrt(100) fp32 roundings
  EXPECT_LT(fp32, 1e-6);
  // Longer reductions allow more; bf16 at DeepSeek-V3's experts still catches 1 %.
  EXPECT_GT(check_tolerance(DType::kFp32, 7168, 2048, 8), fp32);
  EXPECT_LT(check_tolerance(DType::kBf16, 7168, 2048, 8), 0.0085);
}

}  // namespace
}  // namespace epbench

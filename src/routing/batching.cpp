#include "routing/batching.h"

#include <algorithm>
#include <limits>

#include "common/error.h"
#include "common/named.h"
#include "common/numeric.h"

namespace epbench {

namespace {

constexpr Named<BatchingPolicy> kPolicies[] = {{"fifo", BatchingPolicy::kFifo},
                                               {"affinity", BatchingPolicy::kAffinity}};

struct Member {
  size_t request;
  int home;
};

// Builds the plan batch by batch; `done` marks requests already run.
class Planner {
 public:
  Planner(const std::vector<RequestSpan>& requests, const std::vector<std::vector<double>>& profile,
          const BatchingOptions& opt, Allocator& alloc)
      : req_(requests), profile_(profile), opt_(opt), alloc_(alloc), done_(requests.size(), 0) {}

  StepPlan run() {
    while (next_ < req_.size() && !full()) {
      std::vector<Member> batch =
          opt_.policy == BatchingPolicy::kFifo ? fifo_batch() : affinity_batch();
      emit(batch);
      for (const Member& m : batch) alloc_.release(m.home, req_[m.request].kv_tokens);
      plan_.batch_requests.push_back(static_cast<uint32_t>(batch.size()));
      while (next_ < req_.size() && done_[next_]) ++next_;
    }
    return std::move(plan_);
  }

 private:
  bool full() const { return opt_.max_steps > 0 && plan_.num_steps() >= opt_.max_steps; }
  std::span<const double> profile(size_t r) const {
    return r < profile_.size() ? std::span<const double>(profile_[r]) : std::span<const double>();
  }

  // Requests in arrival order until B of them, or until the next one finds no KV room.
  std::vector<Member> fifo_batch() {
    std::vector<Member> batch;
    for (size_t r = next_; r < req_.size() && batch.size() < sz(opt_.batch_size); ++r) {
      if (done_[r]) continue;
      const int g = alloc_.place(req_[r].kv_tokens, profile(r));
      if (g < 0) break;
      batch.push_back({r, g});
      done_[r] = 1;
    }
    return batch;
  }

  // Greedy from the oldest pending requests (a window of them, so none waits forever): add
  // the request whose per-GPU expert work, added to the batch's, leaves the most loaded GPU
  // least loaded; the batch's decode steps then spread over the GPUs.
  std::vector<Member> affinity_batch() {
    const size_t window = opt_.window > 0 ? sz(opt_.window) : 4 * sz(opt_.batch_size);
    std::vector<size_t> cand;
    for (size_t r = next_; r < req_.size() && cand.size() < window; ++r)
      if (!done_[r]) cand.push_back(r);
    std::vector<double> acc;
    std::vector<Member> batch;
    while (batch.size() < sz(opt_.batch_size) && !cand.empty()) {
      size_t best = 0;
      double best_score = std::numeric_limits<double>::infinity();
      for (size_t i = 0; i < cand.size(); ++i) {
        const double s = score(acc, cand[i]);
        if (s < best_score) best_score = s, best = i;
      }
      const size_t r = cand[best];
      cand.erase(cand.begin() + static_cast<std::ptrdiff_t>(best));
      const int g = alloc_.place(req_[r].kv_tokens, profile(r));
      if (g < 0) continue;  // no room for this one now; try the others
      batch.push_back({r, g});
      done_[r] = 1;
      add(acc, r);
    }
    if (batch.empty()) throw InputError("batching: no request fits in the KV capacity");
    return batch;
  }

  // Max over GPUs of the batch's work with request r added; a request's profile is normalised
  // to one token's worth (each request adds one token per decode step).
  double score(const std::vector<double>& acc, size_t r) const {
    const std::span<const double> p = profile(r);
    if (p.empty()) return 0;
    double total = 0, worst = 0;
    for (double v : p) total += v;
    const double scale = total > 0 ? 1 / total : 0;
    for (size_t g = 0; g < p.size(); ++g)
      worst = std::max(worst, (acc.empty() ? 0 : acc[g]) + p[g] * scale);
    return worst;
  }
  void add(std::vector<double>& acc, size_t r) const {
    const std::span<const double> p = profile(r);
    if (p.empty()) return;
    acc.resize(p.size(), 0);
    double total = 0;
    for (double v : p) total += v;
    for (size_t g = 0; g < p.size() && total > 0; ++g) acc[g] += p[g] / total;
  }

  void close_step(bool prefill) {
    if (plan_.token.size() == plan_.offset.back() || full()) return;
    plan_.offset.push_back(plan_.token.size());
    plan_.prefill.push_back(prefill ? 1 : 0);
  }
  void push(uint64_t token, int home) {
    plan_.token.push_back(token);
    plan_.home.push_back(home);
  }

  // Prefill chunks of the batch's prompts, then one decode step per generated position.
  void emit(const std::vector<Member>& batch) {
    if (opt_.prefill_chunk > 0) {
      for (const Member& m : batch)
        for (uint64_t t = req_[m.request].first; t < req_[m.request].prompt_end && !full(); ++t) {
          push(t, m.home);
          if (plan_.token.size() - plan_.offset.back() == opt_.prefill_chunk) close_step(true);
        }
      close_step(true);
    }
    for (uint64_t j = 0; !full(); ++j) {
      for (const Member& m : batch) {
        const RequestSpan& s = req_[m.request];
        if (s.prompt_end + j < s.end) push(s.prompt_end + j, m.home);
      }
      if (plan_.token.size() == plan_.offset.back()) break;  // every request has ended
      close_step(false);
    }
    // Tokens pushed after the plan filled up belong to no step.
    plan_.token.resize(plan_.offset.back());
    plan_.home.resize(plan_.offset.back());
  }

  const std::vector<RequestSpan>& req_;
  const std::vector<std::vector<double>>& profile_;
  const BatchingOptions& opt_;
  Allocator& alloc_;
  std::vector<uint8_t> done_;
  size_t next_ = 0;
  StepPlan plan_;
};

}  // namespace

std::vector<std::string> batching_names() {
  return names_of<BatchingPolicy>(kPolicies);
}

BatchingPolicy parse_batching(const std::string& name) {
  return parse_named<BatchingPolicy>(kPolicies, name, "batching");
}

const char* batching_name(BatchingPolicy p) {
  return name_of<BatchingPolicy>(kPolicies, p);
}

StepPlan plan_steps(const std::vector<RequestSpan>& requests,
                    const std::vector<std::vector<double>>& profile, const BatchingOptions& opt,
                    Allocator& alloc) {
  if (opt.batch_size < 1)
    throw OptionError("batch_sizes", "expected sizes >= 1, got " + std::to_string(opt.batch_size));
  for (size_t r = 0; r < requests.size(); ++r)
    if (!alloc.fits_anywhere(requests[r].kv_tokens))
      throw InputError("request " + std::to_string(r) + " needs " +
                       std::to_string(static_cast<uint64_t>(requests[r].kv_tokens)) +
                       " tokens of KV cache, more than one GPU's capacity");
  return Planner(requests, profile, opt, alloc).run();
}

}  // namespace epbench

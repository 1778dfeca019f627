#include "trace/stats_report.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/strprintf.h"
#include "io/h5.h"

namespace epbench {

namespace {

size_t sz(int v) {
  return static_cast<size_t>(v);
}

const uint64_t* layer_row(const std::vector<uint64_t>& m, int block, int layer, int L, int E) {
  return m.data() + (sz(block) * sz(L) + sz(layer)) * sz(E);
}

LayerReport layer_report(const TraceStats& s, int l, int n_pairs) {
  const int L = s.num_layers, E = s.num_experts;
  LayerReport r;
  r.layer = l;
  r.load = summarize_load(layer_row(s.load, 0, l, L, E), E);
  for (int p = 0; p < 2; ++p)
    r.by_phase[p] = summarize_load(layer_row(s.load_by_phase, p, l, L, E), E);
  r.phase_js_bits = js_divergence_bits(layer_row(s.load_by_phase, 0, l, L, E),
                                       layer_row(s.load_by_phase, 1, l, L, E), E);
  r.transition_mi = transition_mutual_information(s, l);
  r.pairs = top_pairs(s, l, n_pairs);
  return r;
}

DomainReport domain_report(const TraceStats& s, int d, const std::vector<int>& layers, int hot) {
  const int L = s.num_layers, E = s.num_experts;
  DomainReport r;
  r.name = s.domains[sz(d)];
  r.tokens = s.tokens_by_domain[sz(d)];
  for (int l : layers) {
    const uint64_t* counts = layer_row(s.load_by_domain, d, l, L, E);
    DomainLayerReport dl{summarize_load(counts, E),
                         js_divergence_bits(counts, layer_row(s.load, 0, l, L, E), E),
                         hottest_experts(counts, E, hot)};
    r.mean_max_over_mean += dl.load.max_over_mean / static_cast<double>(layers.size());
    r.mean_js_bits += dl.js_bits / static_cast<double>(layers.size());
    if (r.layers.empty() || dl.js_bits > r.layers[sz(r.most_divergent)].js_bits)
      r.most_divergent = static_cast<int>(r.layers.size());
    r.layers.push_back(std::move(dl));
  }
  return r;
}

std::string percent(uint64_t part, uint64_t whole) {
  return whole ? strprintf("%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole))
               : "-";
}

std::string heading(const TraceStats& s, const TraceHeader& h, const std::string& path) {
  std::string out = strprintf("trace     %s\n", path.c_str());
  out += strprintf("model     %s  (%d layers, %d experts, top-%d)\n", h.model.c_str(), s.num_layers,
                   s.num_experts, s.top_k);
  out += strprintf("tokens    %llu  (prefill %llu, decode %llu)\n",
                   static_cast<unsigned long long>(s.tokens),
                   static_cast<unsigned long long>(s.tokens_by_phase[0]),
                   static_cast<unsigned long long>(s.tokens_by_phase[1]));
  out += strprintf("requests  %llu   domains %zu\n",
                   static_cast<unsigned long long>(h.num_requests), s.domains.size());
  return out;
}

std::string layer_table(const TraceStats& s, const StatsReport& r) {
  std::string out =
      "\nExpert load per layer (m/m: hottest expert over the mean; H: entropy of the load;\n"
      "JS p|d: prefill vs decode divergence; MI: top-1 mutual information to the next layer)\n";
  out += strprintf("%5s %8s %7s %7s %7s %7s %7s %9s %9s %7s %7s\n", "layer", "m/m", "cv", "H bits",
                   "H norm", "hottest", "share", "prefill", "decode", "JS p|d", "MI");
  for (const LayerReport& l : r.layers) {
    const uint64_t hot = l.load.hottest >= 0 ? s.load_at(l.layer, l.load.hottest) : 0;
    const std::string mi = l.layer + 1 < s.num_layers && !s.transitions_top1.empty()
                               ? strprintf("%.4f", l.transition_mi)
                               : "-";
    out += strprintf("%5d %8.3f %7.3f %7.3f %7.3f %7d %7s %9.3f %9.3f %7.4f %7s\n", l.layer,
                     l.load.max_over_mean, l.load.cv, l.load.entropy_bits, l.load.entropy_norm,
                     l.load.hottest, percent(hot, s.tokens * sz(s.top_k)).c_str(),
                     l.by_phase[0].max_over_mean, l.by_phase[1].max_over_mean, l.phase_js_bits,
                     mi.c_str());
  }
  return out;
}

std::string join(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

std::string domain_table(const TraceStats& s, const StatsReport& r) {
  if (r.domains.empty()) return "";
  std::string out =
      "\nDomains (m/m and JS averaged over the layers shown; JS: domain vs overall load, bits;\n"
      "hottest: the domain's hottest experts in its most divergent layer)\n";
  out += strprintf("%-16s %10s %7s %8s %8s %8s %6s  %s\n", "domain", "tokens", "share", "m/m",
                   "JS mean", "JS max", "layer", "hottest");
  for (const DomainReport& d : r.domains) {
    const DomainLayerReport& worst = d.layers[sz(d.most_divergent)];
    out += strprintf("%-16s %10llu %7s %8.3f %8.4f %8.4f %6d  %s\n", d.name.c_str(),
                     static_cast<unsigned long long>(d.tokens), percent(d.tokens, s.tokens).c_str(),
                     d.mean_max_over_mean, d.mean_js_bits, worst.js_bits,
                     r.layers[sz(d.most_divergent)].layer, join(worst.hottest).c_str());
  }
  return out;
}

std::string pair_table(const TraceStats& s, const StatsReport& r) {
  if (s.pairs.empty() || s.top_k < 2) return "";
  std::string out =
      "\nTop co-activated pairs (count: tokens choosing both; expected: independent choices\n"
      "with the same per-expert frequencies, docs/stats.md; lift = count / expected)\n";
  out += strprintf("%5s %5s %5s %12s %12s %7s\n", "layer", "a", "b", "count", "expected", "lift");
  for (const LayerReport& l : r.layers)
    for (const PairLift& p : l.pairs)
      out += strprintf("%5d %5d %5d %12llu %12.1f %7.3f\n", p.layer, p.a, p.b,
                       static_cast<unsigned long long>(p.count), p.expected, p.lift);
  return out;
}

nlohmann::json summary_json(const LoadSummary& l) {
  return {{"max_over_mean", l.max_over_mean},
          {"cv", l.cv},
          {"entropy_bits", l.entropy_bits},
          {"entropy_norm", l.entropy_norm},
          {"hottest", l.hottest}};
}

nlohmann::json layer_json(const TraceStats& s, const LayerReport& l) {
  const uint64_t* row = s.load.data() + sz(l.layer) * sz(s.num_experts);
  nlohmann::json j = summary_json(l.load);
  j["layer"] = l.layer;
  j["load"] = std::vector<uint64_t>(row, row + s.num_experts);
  j["prefill"] = summary_json(l.by_phase[0]);
  j["decode"] = summary_json(l.by_phase[1]);
  j["phase_js_bits"] = l.phase_js_bits;
  if (l.layer + 1 < s.num_layers && !s.transitions_top1.empty())
    j["transition_mi_bits"] = l.transition_mi;
  j["top_pairs"] = nlohmann::json::array();
  for (const PairLift& p : l.pairs)
    j["top_pairs"].push_back(
        {{"a", p.a}, {"b", p.b}, {"count", p.count}, {"expected", p.expected}, {"lift", p.lift}});
  return j;
}

nlohmann::json domain_json(const DomainReport& d, const StatsReport& r) {
  nlohmann::json j = {{"name", d.name},
                      {"tokens", d.tokens},
                      {"mean_max_over_mean", d.mean_max_over_mean},
                      {"mean_js_bits", d.mean_js_bits},
                      {"layers", nlohmann::json::array()}};
  for (size_t i = 0; i < d.layers.size(); ++i) {
    nlohmann::json l = summary_json(d.layers[i].load);
    l["layer"] = r.layers[i].layer;
    l["js_bits"] = d.layers[i].js_bits;
    l["hottest_experts"] = d.layers[i].hottest;
    j["layers"].push_back(std::move(l));
  }
  return j;
}

}  // namespace

StatsReport make_report(const TraceStats& s, const StatsReportOptions& opt) {
  std::vector<int> layers = opt.layers;
  if (layers.empty())
    for (int l = 0; l < s.num_layers; ++l) layers.push_back(l);
  StatsReport r;
  for (int l : layers) r.layers.push_back(layer_report(s, l, opt.top_pairs));
  for (int d = 0; d < static_cast<int>(s.domains.size()); ++d)
    r.domains.push_back(domain_report(s, d, layers, opt.hottest));
  return r;
}

std::string format_stats_table(const TraceStats& s, const TraceHeader& h,
                               const std::string& trace_path, const StatsReport& r) {
  return heading(s, h, trace_path) + layer_table(s, r) + domain_table(s, r) + pair_table(s, r);
}

std::string format_stats_json(const TraceStats& s, const TraceHeader& h,
                              const std::string& trace_path, const StatsReport& r) {
  nlohmann::json j = {{"format", kStatsFormat},
                      {"version", kStatsVersion},
                      {"trace", trace_path},
                      {"model", h.model},
                      {"num_layers", s.num_layers},
                      {"num_experts", s.num_experts},
                      {"top_k", s.top_k},
                      {"tokens", s.tokens},
                      {"tokens_prefill", s.tokens_by_phase[0]},
                      {"tokens_decode", s.tokens_by_phase[1]},
                      {"requests", h.num_requests},
                      {"layers", nlohmann::json::array()},
                      {"domains", nlohmann::json::array()}};
  for (const LayerReport& l : r.layers) j["layers"].push_back(layer_json(s, l));
  for (const DomainReport& d : r.domains) j["domains"].push_back(domain_json(d, r));
  return j.dump(2) + "\n";
}

namespace {

using Dims = std::vector<hsize_t>;

// The big matrices, chunked one layer at a time and compressed (mostly zeros for large E).
void write_matrix(hid_t f, const std::string& name, const std::vector<uint64_t>& m, hsize_t rows,
                  const TraceStats& s) {
  if (m.empty() || rows == 0) return;
  const hsize_t E = sz(s.num_experts);
  h5::DatasetOptions opt;
  opt.chunk = {1, E, E};
  h5::write_all<uint64_t>(f, name, {rows, E, E}, m.data(), opt);
}

void write_summaries(hid_t f, const TraceStats& s) {
  const int L = s.num_layers, E = s.num_experts, D = static_cast<int>(s.domains.size());
  std::vector<double> mm, cv, hb, hn, phase_mm, phase_js, mi, dom_mm, dom_js;
  std::vector<int32_t> hot;
  for (int l = 0; l < L; ++l) {
    const LoadSummary ls = summarize_load(layer_row(s.load, 0, l, L, E), E);
    mm.push_back(ls.max_over_mean);
    cv.push_back(ls.cv);
    hb.push_back(ls.entropy_bits);
    hn.push_back(ls.entropy_norm);
    hot.push_back(ls.hottest);
    phase_js.push_back(js_divergence_bits(layer_row(s.load_by_phase, 0, l, L, E),
                                          layer_row(s.load_by_phase, 1, l, L, E), E));
    if (l + 1 < L) mi.push_back(transition_mutual_information(s, l));
  }
  for (int p = 0; p < 2; ++p)
    for (int l = 0; l < L; ++l)
      phase_mm.push_back(summarize_load(layer_row(s.load_by_phase, p, l, L, E), E).max_over_mean);
  for (int d = 0; d < D; ++d)
    for (int l = 0; l < L; ++l) {
      const uint64_t* c = layer_row(s.load_by_domain, d, l, L, E);
      dom_mm.push_back(summarize_load(c, E).max_over_mean);
      dom_js.push_back(js_divergence_bits(c, layer_row(s.load, 0, l, L, E), E));
    }
  const hsize_t hl = sz(L);
  h5::write_all<double>(f, "summary/max_over_mean", {hl}, mm.data());
  h5::write_all<double>(f, "summary/cv", {hl}, cv.data());
  h5::write_all<double>(f, "summary/entropy_bits", {hl}, hb.data());
  h5::write_all<double>(f, "summary/entropy_norm", {hl}, hn.data());
  h5::write_all<int32_t>(f, "summary/hottest", {hl}, hot.data());
  h5::write_all<double>(f, "summary/phase_max_over_mean", {2, hl}, phase_mm.data());
  h5::write_all<double>(f, "summary/phase_js_bits", {hl}, phase_js.data());
  if (!s.transitions_top1.empty())
    h5::write_all<double>(f, "summary/transition_mi_bits", {hl - 1}, mi.data());
  if (D > 0) {
    h5::write_all<double>(f, "summary/domain_max_over_mean", {sz(D), hl}, dom_mm.data());
    h5::write_all<double>(f, "summary/domain_js_bits", {sz(D), hl}, dom_js.data());
  }
}

void write_root_attrs(hid_t f, const TraceStats& s, const TraceHeader& h,
                      const std::string& trace_path) {
  h5::write_attr(f, "format", std::string(kStatsFormat));
  h5::write_attr(f, "version", int64_t{kStatsVersion});
  h5::write_attr(f, "source", trace_path);
  h5::write_attr(f, "model", h.model);
  h5::write_attr(f, "num_layers", int64_t{s.num_layers});
  h5::write_attr(f, "num_experts", int64_t{s.num_experts});
  h5::write_attr(f, "top_k", int64_t{s.top_k});
  h5::write_attr(f, "num_tokens", static_cast<int64_t>(s.tokens));
  h5::write_attr(f, "num_requests", static_cast<int64_t>(h.num_requests));
  h5::write_attr(f, "has_pairs", int64_t{!s.pairs.empty()});
  h5::write_attr(f, "has_transitions", int64_t{!s.transitions_top1.empty()});
  if (!s.domains.empty()) h5::write_attr(f, "domains", s.domains);
}

}  // namespace

void write_stats_h5(const std::string& path, const TraceStats& s, const TraceHeader& h,
                    const std::string& trace_path) {
  AtomicOutput out(path);
  {
    h5::File f = h5::create_memory_file(path);
    const hsize_t L = sz(s.num_layers), E = sz(s.num_experts), D = s.domains.size();
    write_root_attrs(f.id(), s, h, trace_path);
    h5::write_all<uint64_t>(f.id(), "tokens_by_phase", {2}, s.tokens_by_phase);
    h5::write_all<uint64_t>(f.id(), "load", {L, E}, s.load.data());
    h5::write_all<uint64_t>(f.id(), "load_by_phase", {2, L, E}, s.load_by_phase.data());
    if (D > 0) {
      h5::write_all<uint64_t>(f.id(), "tokens_by_domain", {D}, s.tokens_by_domain.data());
      h5::write_all<uint64_t>(f.id(), "load_by_domain", {D, L, E}, s.load_by_domain.data());
    }
    write_matrix(f.id(), "pairs", s.pairs, L, s);
    write_matrix(f.id(), "transitions_top1", s.transitions_top1, L - 1, s);
    write_matrix(f.id(), "transitions_rank", s.transitions_rank, L - 1, s);
    write_summaries(f.id(), s);
    h5::write_image(f.id(), out);
  }
  out.commit();
}

}  // namespace epbench

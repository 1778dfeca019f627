#pragma once
// Shared pieces of the command-line front end. Each subcommand lives in its own file and
// exposes one register_* function; main.cpp lists them in one table.
#include <CLI/CLI.hpp>
#include <string>
#include <utility>
#include <vector>

namespace epbench::cli {

void register_models(CLI::App& app);
void register_version(CLI::App& app);
void register_trace_info(CLI::App& trace);
void register_trace_split(CLI::App& trace);
void register_trace_synth(CLI::App& trace);
void register_trace_import(CLI::App& trace);
void register_trace_stats(CLI::App& trace);
void register_place(CLI::App& app);
void register_layout(CLI::App& app);
void register_bound(CLI::App& app);
void register_evaluate(CLI::App& app);
void register_serve(CLI::App& app);
void register_run(CLI::App& app);
void register_validate(CLI::App& app);
void register_profile(CLI::App& app);
void register_topo(CLI::App& app);
void register_calibrate(CLI::App& app);

// The command line as typed, for provenance attributes in output files.
const std::string& command_line();
void set_command_line(int argc, char** argv);

// Parses a non-negative integer; otherwise throws InputError "OPTION: expected EXPECTED,
// got 'TEXT'".
uint64_t parse_uint(std::string_view s, const std::string& option, const std::string& expected,
                    const std::string& text);

// "Routing policies, comma-separated: first, ..." from the routing table, for --routing.
std::string routing_help();

// --price-as MODEL: the expert sizes (d_model, d_ff) steps are priced at; with no model given,
// the ones passed (the trace's). An unknown model is an error naming --price-as.
std::pair<int, int> priced_sizes(const std::string& price_as, int d_model, int d_ff);
// Registers --price-as on `cmd` into `target`.
void add_price_as(CLI::App* cmd, std::string& target);

// Splits "a,b,c" at commas (empty items kept).
std::vector<std::string> split_commas(const std::string& text);
// ... and refuses an item given twice (InputError naming `option`): each item names one output.
std::vector<std::string> split_distinct(const std::string& text, const std::string& option);
// Parses "1,8,64": distinct positive integers separated by commas; InputError naming `option`
// otherwise.
std::vector<int> parse_positive_list(const std::string& text, const std::string& option);

// Parses "0.5,1,2": numbers > 0 separated by commas; InputError naming `option` otherwise.
std::vector<double> parse_positive_numbers(const std::string& text, const std::string& option);
// Parses "200ms", "1.5s", "50us" into seconds (>= 0); a number without a unit is refused.
double parse_duration(const std::string& text, const std::string& option);

// Parses "A:B" into [a, b); throws InputError naming `option` otherwise.
std::pair<uint64_t, uint64_t> parse_range(const std::string& text, const std::string& option);

// Parses a token range of a trace with `total` tokens: "A:B" in tokens or "A%:B%" in percent
// of the trace; an empty side means the start or the end ("50%:" is the second half).
// Throws InputError naming `option` when malformed, empty, or beyond the trace.
std::pair<uint64_t, uint64_t> parse_token_range(const std::string& text, uint64_t total,
                                                const std::string& option);

}  // namespace epbench::cli

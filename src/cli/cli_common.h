#pragma once
// Shared pieces of the command-line front end. Each subcommand lives in its own file and
// exposes one register_* function; main.cpp lists them in one table.
#include <CLI/CLI.hpp>
#include <string>

namespace epbench::cli {

void register_models(CLI::App& app);
void register_version(CLI::App& app);
void register_trace_info(CLI::App& trace);
void register_trace_split(CLI::App& trace);
void register_trace_synth(CLI::App& trace);
void register_trace_import(CLI::App& trace);
void register_trace_stats(CLI::App& trace);

// The command line as typed, for provenance attributes in output files.
const std::string& command_line();
void set_command_line(int argc, char** argv);

// Parses "A:B" into [a, b); throws InputError naming `option` otherwise.
std::pair<uint64_t, uint64_t> parse_range(const std::string& text, const std::string& option);

}  // namespace epbench::cli

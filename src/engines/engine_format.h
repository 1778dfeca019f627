#pragma once
// Placement files of inference engines: one file per engine (src/engines/<engine>.cpp), each
// converting a SlotMap to the file the engine's own loader reads and back, registered in one
// table (engine_formats.cpp). docs/engines.md cites each engine's loader.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "engines/slot_map.h"

namespace epbench {

struct ModelPreset;

// One file an export produces: its path and its whole content (text or .npy bytes).
struct EngineFile {
  std::string path;
  std::string content;
};

// What an export reads. `output` is the path the user named (a format writing several files
// derives the others from it); `model` gives the layer numbering (dense layers).
struct ExportInput {
  const Layout& layout;
  const std::string& layout_file;  // named in errors
  const ModelPreset& model;
  const std::string& output;
};
using EngineExportFn = std::vector<EngineFile> (*)(const ExportInput& in);
// Reads the file at `path` for `model`. `ranks` is the expert-parallel size the user gave
// (0: none); a format whose file states its own rank count checks the two agree, the others
// require it.
using EngineImportFn = SlotMap (*)(const std::string& path, const ModelPreset& model, int ranks);

struct EngineFormat {
  const char* name;
  const char* summary;  // one line for --help
  EngineExportFn export_map;
  EngineImportFn import_map;
};

std::span<const EngineFormat> engine_formats();
const EngineFormat& find_engine_format(const std::string& name);  // OptionError "format"

// Ranks for a format whose file does not say: the user's, or an InputError naming `file`.
int require_ranks(int ranks, const std::string& file);

// The file parsed as JSON; InputError naming it when unreadable or malformed.
nlohmann::json read_json(const std::string& path);
// `j` as an array of arrays of integers ([rows][...]); InputError naming file and field.
std::vector<std::vector<int32_t>> int_rows(const nlohmann::json& j, const std::string& file,
                                           const std::string& field);
// Refuses keys of object `j` outside `allowed` (engines whose loaders refuse them too).
void refuse_other_keys(const nlohmann::json& j, std::initializer_list<const char*> allowed,
                       const std::string& file, const std::string& where);

}  // namespace epbench

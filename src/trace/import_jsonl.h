#pragma once
// Importing a trace from JSON lines, one record per (request, position, layer):
//   {"request": 0, "position": 3, "layer": 1, "experts": [5, 2],
//    "weights": [0.7, 0.3], "phase": 0, "domain": "github"}
// "weights", "phase" (default 0) and "domain" are optional; other keys are ignored. Records
// may come in any order. The whole file is held in memory (as compact ids, not as JSON), so
// this suits traces recorded by a hook script; large arrays are better imported as .npy.
#include <string>

#include "trace/trace.h"

namespace epbench {

struct ModelPreset;

struct JsonlImportOptions {
  std::string path;
  std::string dataset;  // empty: the file's name
};

// Writes the trace to `output` (atomically: nothing is left behind on error) and returns its
// header. Errors name the file, the line and the field.
TraceHeader import_jsonl(const ModelPreset& model, const JsonlImportOptions& options,
                         const std::string& output);

}  // namespace epbench

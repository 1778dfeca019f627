#include "common/error.h"

namespace epbench {

std::string field_error(const std::string& file, const std::string& field,
                        const std::string& expected, const std::string& got) {
  std::string msg = file + ": " + field + ": expected " + expected;
  if (!got.empty()) msg += ", got " + got;
  return msg;
}

void throw_field_error(const std::string& file, const std::string& field,
                       const std::string& expected, const std::string& got) {
  throw InputError(field_error(file, field, expected, got));
}

}  // namespace epbench

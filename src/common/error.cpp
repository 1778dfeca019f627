#include "common/error.h"

#include <utility>

namespace epbench {

namespace {
FieldNamer& field_namer() {
  static FieldNamer namer;
  return namer;
}
}  // namespace

void set_field_namer(FieldNamer namer) {
  field_namer() = std::move(namer);
}

std::string user_message(const std::exception& e) {
  const auto* option = dynamic_cast<const OptionError*>(&e);
  if (!option || !field_namer()) return e.what();
  return field_namer()(option->field()) + ": " + option->problem();
}

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

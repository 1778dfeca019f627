#pragma once
// Policies chosen by name on the command line: one table of {name, value} per enum, and the
// lookups every table needs (parse with a clear error, name of a value, all names).
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace epbench {

template <class E>
struct Named {
  const char* name;
  E value;
};

template <class E>
std::vector<std::string> names_of(std::span<const Named<E>> table) {
  std::vector<std::string> out;
  for (const auto& n : table) out.emplace_back(n.name);
  return out;
}

// Throws OptionError "FIELD: expected one of a, b, c, got 'NAME'".
template <class E>
E parse_named(std::span<const Named<E>> table, const std::string& name, const std::string& field) {
  std::string known;
  for (const auto& n : table) {
    if (name == n.name) return n.value;
    if (!known.empty()) known += ", ";
    known += n.name;
  }
  throw OptionError(field, "expected one of " + known + ", got '" + name + "'");
}

template <class E>
const char* name_of(std::span<const Named<E>> table, E value) {
  for (const auto& n : table)
    if (n.value == value) return n.name;
  return "?";
}

}  // namespace epbench

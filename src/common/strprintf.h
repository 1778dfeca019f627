#pragma once
// printf into a std::string, for aligned text tables.
#include <string>

namespace epbench {

std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace epbench

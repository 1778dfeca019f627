#include "common/text_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace epbench {

std::string read_text_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  // A directory opens as a stream on Linux and then reads as nothing: refuse it by name.
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(path + ": cannot open " + what + " (no such file)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open " + what);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(path + ": cannot read " + what);
  return text.str();
}

}  // namespace epbench

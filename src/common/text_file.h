#pragma once
// Reading a whole input file as text, with the errors every reader gives.
#include <string>

namespace epbench {

// `what` names the file in the error, e.g. "layout file": "<path>: cannot open layout file (no
// such file)". Throws InputError when the path is not a readable regular file.
std::string read_text_file(const std::string& path, const std::string& what);

}  // namespace epbench

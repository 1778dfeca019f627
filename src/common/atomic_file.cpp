#include "common/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "common/error.h"

namespace epbench {

AtomicOutput::AtomicOutput(std::string final_path)
    : final_(std::move(final_path)),
      temp_(final_ + ".tmp." + std::to_string(static_cast<long>(getpid()))) {}

AtomicOutput::~AtomicOutput() {
  if (!committed_) std::remove(temp_.c_str());
}

void AtomicOutput::commit() {
  if (std::rename(temp_.c_str(), final_.c_str()) != 0)
    throw InputError(final_ + ": cannot write output: " + std::strerror(errno));
  committed_ = true;
}

void write_text_file(const std::string& path, const std::string& text) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    f << text;
    if (!f) throw InputError(path + ": cannot write output");
  }
  out.commit();
}

}  // namespace epbench

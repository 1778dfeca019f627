#pragma once
// Output files appear whole or not at all: write to a temporary name beside the target, then
// rename. An AtomicOutput destroyed before commit() removes its temporary file.
#include <string>

namespace epbench {

class AtomicOutput {
 public:
  explicit AtomicOutput(std::string final_path);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::string& temp_path() const { return temp_; }
  const std::string& final_path() const { return final_; }
  void commit();  // rename temp -> final; throws InputError on failure

 private:
  std::string final_, temp_;
  bool committed_ = false;
};

// Writes text to `path` atomically.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace epbench

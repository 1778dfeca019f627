#pragma once
// Output files appear whole or not at all, whatever ends the process.
//
// Where the filesystem allows (Linux O_TMPFILE: ext4, xfs, btrfs, tmpfs, ...), the file is
// written as an unnamed inode in the target's directory and linked into place by commit():
// a process killed before that, even by SIGKILL, leaves nothing behind. Elsewhere (NFS, some
// parallel filesystems) it falls back to a named temporary `FINAL.tmp.HOST.PID` and rename():
// SIGTERM and SIGINT remove it (install_termination_cleanup), and the next AtomicOutput for
// the same file removes one that a SIGKILL left on this host.
#include <cstddef>
#include <string>

namespace epbench {

class AtomicOutput {
 public:
  explicit AtomicOutput(std::string final_path);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::string& final_path() const { return final_; }
  // Writes the whole content at once (text, or an HDF5 image: h5::write_image), replacing any.
  void write(const void* data, size_t size);
  void commit();  // link (or rename) into place; throws InputError on failure

 private:
  void link_unnamed();
  std::string final_;
  std::string temp_;  // /proc/self/fd/N for the unnamed file (linkat's source), else the name
  int fd_ = -1;       // the unnamed file, kept open until commit
  bool committed_ = false;
};

// Writes text to `path` atomically.
void write_text_file(const std::string& path, const std::string& text);

// SIGTERM and SIGINT (scancel, Ctrl-C, mpirun forwarding either) remove the named temporaries
// of this process and end it with that signal's status at once. Call once, early in main.
void install_termination_cleanup();

}  // namespace epbench

#include "common/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/error.h"

namespace fs = std::filesystem;

namespace epbench {

namespace {

// Named temporaries of this process, for the signal handler: fixed storage, no allocation,
// since a handler may only call async-signal-safe functions (unlink, signal, raise).
constexpr int kMaxTemps = 16;
std::array<std::array<char, PATH_MAX>, kMaxTemps> g_temps{};
std::array<volatile sig_atomic_t, kMaxTemps> g_temp_used{};

int register_temp(const std::string& path) {
  if (path.size() >= PATH_MAX) return -1;
  for (int i = 0; i < kMaxTemps; ++i) {
    if (g_temp_used[i]) continue;
    std::memcpy(g_temps[i].data(), path.c_str(), path.size() + 1);
    g_temp_used[i] = 1;
    return i;
  }
  return -1;  // more than kMaxTemps at once: the next AtomicOutput cleans it up instead
}

void unregister_temp(const std::string& path) {
  for (int i = 0; i < kMaxTemps; ++i)
    if (g_temp_used[i] && path == g_temps[i].data()) g_temp_used[i] = 0;
}

extern "C" void remove_temps_and_die(int sig) {
  for (int i = 0; i < kMaxTemps; ++i)
    if (g_temp_used[i]) unlink(g_temps[i].data());
  signal(sig, SIG_DFL);
  raise(sig);  // delivered when the handler returns: the status says which signal ended us
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (gethostname(buf.data(), buf.size() - 1) != 0) return "host";
  return buf.data();
}

std::string temp_prefix(const std::string& final_path) {
  return final_path + ".tmp." + host_name() + ".";
}

// A zombie (killed, not yet reaped: common when its launcher ended first) counts as dead.
bool process_alive(long pid) {
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return true;  // no /proc: trust kill()
  char state = '?';
  const int got = std::fscanf(f, "%*d (%*[^)]) %c", &state);
  std::fclose(f);
  return got != 1 || (state != 'Z' && state != 'X');
}

// Removes temporaries of `final_path` that a killed process of this host left behind.
void remove_stale_temps(const std::string& final_path) {
  const fs::path target(final_path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = fs::path(temp_prefix(final_path)).filename().string();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (!process_alive(pid)) fs::remove(entry.path(), ec);
  }
}

// An unnamed file in the target's directory, or -1 where the filesystem has no O_TMPFILE.
int open_unnamed(const std::string& final_path) {
  if (std::getenv("EPBENCH_NO_TMPFILE")) return -1;  // tests the fallback on any filesystem
  const fs::path target(final_path);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  const int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0) return -1;
  // linkat names it through /proc (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  if (access(self.c_str(), F_OK) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Tests stop here to kill the process while a complete file is still unlinked.
void hold_before_commit(const std::string& final_path) {
  const char* hold = std::getenv("EPBENCH_TEST_HOLD_BEFORE_COMMIT");
  if (!hold || !*hold) return;
  std::fprintf(stderr, "epbench: test hook: holding %s before commit\n", final_path.c_str());
  std::fflush(stderr);
  std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(hold)));
}

[[noreturn]] void throw_write_error(const std::string& path) {
  throw InputError(path + ": cannot write output: " + std::strerror(errno));
}

// Fails before any work is done, not when the finished output cannot be placed.
void require_writable_directory(const std::string& final_path) {
  const fs::path target(final_path);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  if (access(dir.c_str(), W_OK | X_OK) != 0)
    throw InputError(final_path + ": cannot write output: directory '" + dir +
                     "': " + std::strerror(errno));
}

}  // namespace

AtomicOutput::AtomicOutput(std::string final_path) : final_(std::move(final_path)) {
  require_writable_directory(final_);
  remove_stale_temps(final_);
  fd_ = open_unnamed(final_);
  if (fd_ >= 0) {
    temp_ = "/proc/self/fd/" + std::to_string(fd_);
    return;
  }
  temp_ = temp_prefix(final_) + std::to_string(static_cast<long>(getpid()));
  register_temp(temp_);
}

AtomicOutput::~AtomicOutput() {
  if (fd_ >= 0) {
    close(fd_);  // an unnamed file vanishes with its last descriptor
    return;
  }
  if (!committed_) std::remove(temp_.c_str());
  unregister_temp(temp_);
}

void AtomicOutput::write(const void* data, size_t size) {
  const int fd =
      fd_ >= 0 ? fd_ : open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0 || (fd_ >= 0 && ftruncate(fd, 0) != 0)) throw_write_error(final_);
  const char* p = static_cast<const char*>(data);
  for (size_t done = 0; done < size;) {
    const ssize_t n = pwrite(fd, p + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      if (fd != fd_) close(fd);
      errno = err;
      throw_write_error(final_);
    }
    done += static_cast<size_t>(n);
  }
  if (fd != fd_ && close(fd) != 0) throw_write_error(final_);
}

void AtomicOutput::link_unnamed() {
  if (fsync(fd_) != 0) throw_write_error(final_);
  if (linkat(AT_FDCWD, temp_.c_str(), AT_FDCWD, final_.c_str(), AT_SYMLINK_FOLLOW) == 0) return;
  if (errno != EEXIST) throw_write_error(final_);
  // linkat never replaces: link under a temporary name, then rename over the old file.
  const std::string named = temp_prefix(final_) + std::to_string(static_cast<long>(getpid()));
  register_temp(named);
  const bool ok =
      linkat(AT_FDCWD, temp_.c_str(), AT_FDCWD, named.c_str(), AT_SYMLINK_FOLLOW) == 0 &&
      std::rename(named.c_str(), final_.c_str()) == 0;
  const int err = errno;
  if (!ok) std::remove(named.c_str());
  unregister_temp(named);
  errno = err;
  if (!ok) throw_write_error(final_);
}

void AtomicOutput::commit() {
  hold_before_commit(final_);
  if (fd_ >= 0) {
    link_unnamed();
  } else if (std::rename(temp_.c_str(), final_.c_str()) != 0) {
    throw_write_error(final_);
  }
  committed_ = true;
}

void write_text_file(const std::string& path, const std::string& text) {
  AtomicOutput out(path);
  out.write(text.data(), text.size());
  out.commit();
}

void install_termination_cleanup() {
  struct sigaction sa {};
  sa.sa_handler = remove_temps_and_die;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT}) sigaction(sig, &sa, nullptr);
}

}  // namespace epbench

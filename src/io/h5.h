#pragma once
// A thin RAII layer over the HDF5 C API: handles close themselves, failures become InputError
// naming the file and the object, and typed reads/writes pick the native type from T.
#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace epbench {
class AtomicOutput;
}

namespace epbench::h5 {

// Owns one hid_t and closes it with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*closer)(hid_t)) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();
  herr_t close();  // like reset(), but reports whether the close succeeded

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*closer_)(hid_t) = nullptr;
};

using File = Handle;
using Group = Handle;
using Dataset = Handle;

// Turns HDF5's own error printing off; epbench reports errors itself.
void silence_errors();

// "file.h5:/tokens/expert_ids" for error messages.
std::string describe(hid_t obj);

File create_file(const std::string& path);  // truncates
// A file built in memory (the core driver, no backing store): `name` only labels it. Written
// out whole by write_image, it lets AtomicOutput put an HDF5 file on disk complete or not at
// all (HDF5 cannot write through the unnamed file's /proc/self/fd name: it resolves it).
File create_memory_file(const std::string& name);
// Flushes a memory file and writes its image to `out` (see common/atomic_file.h).
void write_image(hid_t file, AtomicOutput& out);
File open_file(const std::string& path, bool writable = false);
Group create_group(hid_t loc, const std::string& name);
Group open_group(hid_t loc, const std::string& name);
bool exists(hid_t loc, const std::string& path);  // path may have several components
// Creates the missing groups above `path` ("a/b/c" creates a and a/b).
void create_parent_groups(hid_t loc, const std::string& path);

template <class T>
hid_t native_type();

// Attributes (scalar, or a 1-D array of strings).
void write_attr(hid_t obj, const std::string& name, const std::string& value);
void write_attr(hid_t obj, const std::string& name, int64_t value);
void write_attr(hid_t obj, const std::string& name, double value);
void write_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values);
bool has_attr(hid_t obj, const std::string& name);
std::optional<std::string> read_attr_string(hid_t obj, const std::string& name);
std::optional<int64_t> read_attr_int(hid_t obj, const std::string& name);
std::optional<double> read_attr_double(hid_t obj, const std::string& name);
std::optional<std::vector<std::string>> read_attr_strings(hid_t obj, const std::string& name);

struct DatasetOptions {
  std::vector<hsize_t> chunk;  // empty: contiguous
  bool extendible = false;     // first dimension unlimited
  int deflate_level = 1;       // with shuffle; 0: no compression
};

template <class T>
Dataset create_dataset(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims,
                       const DatasetOptions& opt = {});
Dataset open_dataset(hid_t loc, const std::string& name);
std::vector<hsize_t> dims(hid_t dset);

// True when the stored element type converts to T without loss of class (int vs float).
template <class T>
bool stored_type_is(hid_t dset);

// Grows the first dimension to `rows`.
void extend(hid_t dset, hsize_t rows);

// Hyperslab of whole trailing dimensions: rows [first, first + count) of an N-D dataset.
template <class T>
void write_rows(hid_t dset, hsize_t first, hsize_t count, const T* data);
template <class T>
void read_rows(hid_t dset, hsize_t first, hsize_t count, T* data);

template <class T>
void write_all(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, const T* data,
               const DatasetOptions& opt = {});
template <class T>
std::vector<T> read_all(hid_t dset);

}  // namespace epbench::h5

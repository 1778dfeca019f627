#include "io/h5.h"

#include <numeric>

#include "common/atomic_file.h"
#include "common/error.h"

namespace epbench::h5 {

namespace {

[[noreturn]] void fail(hid_t obj, const std::string& what) {
  throw InputError(describe(obj) + ": " + what);
}

hid_t check(hid_t id, hid_t obj, const std::string& what) {
  if (id < 0) fail(obj, what);
  return id;
}

void check(herr_t status, hid_t obj, const std::string& what) {
  if (status < 0) fail(obj, what);
}

hsize_t row_elements(const std::vector<hsize_t>& d) {
  return std::accumulate(d.begin() + 1, d.end(), hsize_t{1}, std::multiplies<>());
}

// Selects rows [first, first + count) of dset; returns (file space, memory space).
std::pair<Handle, Handle> select_rows(hid_t dset, hsize_t first, hsize_t count) {
  Handle space(check(H5Dget_space(dset), dset, "cannot read dataspace"), H5Sclose);
  std::vector<hsize_t> d = dims(dset);
  if (d.empty() || first + count > d[0])
    fail(dset, "rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                   ") out of range");
  std::vector<hsize_t> start(d.size(), 0), cnt = d;
  start[0] = first;
  cnt[0] = count;
  check(H5Sselect_hyperslab(space.id(), H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr),
        dset, "cannot select rows");
  Handle mem(H5Screate_simple(static_cast<int>(cnt.size()), cnt.data(), nullptr), H5Sclose);
  return {std::move(space), std::move(mem)};
}

Handle string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.id(), H5T_VARIABLE);
  H5Tset_cset(t.id(), H5T_CSET_UTF8);
  return t;
}

template <class T>
void write_scalar_attr(hid_t obj, const std::string& name, hid_t type, const T* value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(check(H5Acreate2(obj, name.c_str(), type, space.id(), H5P_DEFAULT, H5P_DEFAULT), obj,
                    "cannot create attribute " + name),
              H5Aclose);
  check(H5Awrite(attr.id(), type, value), obj, "cannot write attribute " + name);
}

Handle open_attr(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) <= 0) return {};
  return Handle(
      check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), obj, "cannot open attribute " + name),
      H5Aclose);
}

template <class T>
std::optional<T> read_numeric_attr(hid_t obj, const std::string& name, H5T_class_t cls) {
  Handle attr = open_attr(obj, name);
  if (!attr.valid()) return std::nullopt;
  Handle type(H5Aget_type(attr.id()), H5Tclose);
  Handle space(H5Aget_space(attr.id()), H5Sclose);
  if (H5Tget_class(type.id()) != cls || H5Sget_simple_extent_npoints(space.id()) != 1)
    fail(obj,
         "attribute " + name + ": expected a scalar " + (cls == H5T_INTEGER ? "integer" : "float"));
  T value{};
  check(H5Aread(attr.id(), native_type<T>(), &value), obj, "cannot read attribute " + name);
  return value;
}

}  // namespace

void create_parent_groups(hid_t loc, const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string parent = path.substr(0, slash);
    if (!exists(loc, parent)) create_group(loc, parent);
  }
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  close();
}

herr_t Handle::close() {
  herr_t status = 0;
  if (id_ >= 0 && closer_) status = closer_(id_);
  id_ = H5I_INVALID_HID;
  return status;
}

void silence_errors() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

std::string describe(hid_t obj) {
  char file[4096] = "?", path[4096] = "";
  if (H5Fget_name(obj, file, sizeof file) < 0) file[0] = '?', file[1] = 0;
  if (H5Iget_type(obj) != H5I_FILE && H5Iget_name(obj, path, sizeof path) < 0) path[0] = 0;
  return std::string(file) + (path[0] ? std::string(":") + path : "");
}

File create_file(const std::string& path) {
  silence_errors();
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  H5Pset_obj_track_times(fcpl.id(), 0);  // no timestamps: same inputs, same bytes
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id(), H5P_DEFAULT);
  if (f < 0) throw InputError(path + ": cannot create HDF5 file");
  return File(f, H5Fclose);
}

File create_memory_file(const std::string& name) {
  silence_errors();
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  H5Pset_obj_track_times(fcpl.id(), 0);
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  constexpr size_t kGrowBy = size_t{16} << 20;  // the image grows in 16 MiB steps
  if (H5Pset_fapl_core(fapl.id(), kGrowBy, 0) < 0)
    throw InputError(name + ": cannot set up an in-memory HDF5 file");
  hid_t f = H5Fcreate(name.c_str(), H5F_ACC_TRUNC, fcpl.id(), fapl.id());
  if (f < 0) throw InputError(name + ": cannot create HDF5 file in memory");
  return File(f, H5Fclose);
}

void write_image(hid_t file, AtomicOutput& out) {
  const std::string& path = out.final_path();
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0)
    throw InputError(path + ": cannot finish the HDF5 file");
  const ssize_t size = H5Fget_file_image(file, nullptr, 0);
  if (size < 0) throw InputError(path + ": cannot read back the in-memory HDF5 file");
  std::vector<char> image(static_cast<size_t>(size));
  if (H5Fget_file_image(file, image.data(), image.size()) != size)
    throw InputError(path + ": cannot read back the in-memory HDF5 file");
  out.write(image.data(), image.size());
}

File open_file(const std::string& path, bool writable) {
  silence_errors();
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    FILE* probe = std::fopen(path.c_str(), "rb");
    if (!probe) throw InputError(path + ": cannot open: no such file or not readable");
    std::fclose(probe);
    throw InputError(path + ": not an HDF5 file (or truncated)");
  }
  hid_t f = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) throw InputError(path + ": cannot open HDF5 file (damaged or truncated)");
  return File(f, H5Fclose);
}

Group create_group(hid_t loc, const std::string& name) {
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  H5Pset_obj_track_times(gcpl.id(), 0);
  return Group(check(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, gcpl.id(), H5P_DEFAULT), loc,
                     "cannot create group " + name),
               H5Gclose);
}

Group open_group(hid_t loc, const std::string& name) {
  if (!exists(loc, name)) fail(loc, "missing group '" + name + "'");
  return Group(check(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), loc, "cannot open group " + name),
               H5Gclose);
}

bool exists(hid_t loc, const std::string& path) {
  std::string prefix;
  size_t pos = 0;
  while (pos != std::string::npos) {
    size_t next = path.find('/', pos);
    prefix = path.substr(0, next);
    if (!prefix.empty() && H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    pos = next == std::string::npos ? next : next + 1;
  }
  return true;
}

template <>
hid_t native_type<uint8_t>() {
  return H5T_NATIVE_UINT8;
}
template <>
hid_t native_type<uint16_t>() {
  return H5T_NATIVE_UINT16;
}
template <>
hid_t native_type<uint32_t>() {
  return H5T_NATIVE_UINT32;
}
template <>
hid_t native_type<uint64_t>() {
  return H5T_NATIVE_UINT64;
}
template <>
hid_t native_type<int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
hid_t native_type<int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
hid_t native_type<float>() {
  return H5T_NATIVE_FLOAT;
}
template <>
hid_t native_type<double>() {
  return H5T_NATIVE_DOUBLE;
}

void write_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle type = string_type();
  const char* p = value.c_str();
  write_scalar_attr(obj, name, type.id(), &p);
}

void write_attr(hid_t obj, const std::string& name, int64_t value) {
  write_scalar_attr(obj, name, H5T_NATIVE_INT64, &value);
}

void write_attr(hid_t obj, const std::string& name, double value) {
  write_scalar_attr(obj, name, H5T_NATIVE_DOUBLE, &value);
}

void write_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle type = string_type();
  hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle attr(check(H5Acreate2(obj, name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT),
                    obj, "cannot create attribute " + name),
              H5Aclose);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  check(H5Awrite(attr.id(), type.id(), ptrs.data()), obj, "cannot write attribute " + name);
}

bool has_attr(hid_t obj, const std::string& name) {
  return H5Aexists(obj, name.c_str()) > 0;
}

std::optional<std::vector<std::string>> read_attr_strings(hid_t obj, const std::string& name) {
  Handle attr = open_attr(obj, name);
  if (!attr.valid()) return std::nullopt;
  Handle type(H5Aget_type(attr.id()), H5Tclose);
  if (H5Tget_class(type.id()) != H5T_STRING) fail(obj, "attribute " + name + ": expected a string");
  Handle space(H5Aget_space(attr.id()), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space.id());
  std::vector<std::string> out;
  if (H5Tis_variable_str(type.id()) > 0) {
    Handle mem = string_type();
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    check(H5Aread(attr.id(), mem.id(), ptrs.data()), obj, "cannot read attribute " + name);
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem.id(), space.id(), H5P_DEFAULT, ptrs.data());
  } else {
    size_t len = H5Tget_size(type.id());
    std::vector<char> buf(len * static_cast<size_t>(n));
    check(H5Aread(attr.id(), type.id(), buf.data()), obj, "cannot read attribute " + name);
    for (hssize_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * len, len);
      out.push_back(s.substr(0, s.find('\0')));
    }
  }
  return out;
}

std::optional<std::string> read_attr_string(hid_t obj, const std::string& name) {
  auto v = read_attr_strings(obj, name);
  if (!v) return std::nullopt;
  if (v->size() != 1) fail(obj, "attribute " + name + ": expected one string");
  return (*v)[0];
}

std::optional<int64_t> read_attr_int(hid_t obj, const std::string& name) {
  return read_numeric_attr<int64_t>(obj, name, H5T_INTEGER);
}

std::optional<double> read_attr_double(hid_t obj, const std::string& name) {
  return read_numeric_attr<double>(obj, name, H5T_FLOAT);
}

template <class T>
Dataset create_dataset(hid_t loc, const std::string& name, const std::vector<hsize_t>& d,
                       const DatasetOptions& opt) {
  std::vector<hsize_t> maxdims = d;
  if (opt.extendible) maxdims[0] = H5S_UNLIMITED;
  Handle space(H5Screate_simple(static_cast<int>(d.size()), d.data(), maxdims.data()), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl.id(), 0);
  if (!opt.chunk.empty()) {
    H5Pset_chunk(dcpl.id(), static_cast<int>(opt.chunk.size()), opt.chunk.data());
    if (opt.deflate_level > 0) {
      H5Pset_shuffle(dcpl.id());
      H5Pset_deflate(dcpl.id(), static_cast<unsigned>(opt.deflate_level));
    }
  }
  create_parent_groups(loc, name);
  return Dataset(check(H5Dcreate2(loc, name.c_str(), native_type<T>(), space.id(), H5P_DEFAULT,
                                  dcpl.id(), H5P_DEFAULT),
                       loc, "cannot create dataset " + name),
                 H5Dclose);
}

Dataset open_dataset(hid_t loc, const std::string& name) {
  if (!exists(loc, name)) fail(loc, "missing dataset '" + name + "'");
  return Dataset(
      check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), loc, "cannot open dataset " + name),
      H5Dclose);
}

std::vector<hsize_t> dims(hid_t dset) {
  Handle space(check(H5Dget_space(dset), dset, "cannot read dataspace"), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.id());
  if (rank < 0) fail(dset, "cannot read dataspace");
  std::vector<hsize_t> d(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.id(), d.data(), nullptr);
  return d;
}

template <class T>
bool stored_type_is(hid_t dset) {
  Handle type(H5Dget_type(dset), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.id());
  if constexpr (std::is_floating_point_v<T>) return cls == H5T_FLOAT;
  return cls == H5T_INTEGER && H5Tget_size(type.id()) <= sizeof(T);
}

void extend(hid_t dset, hsize_t rows) {
  std::vector<hsize_t> d = dims(dset);
  d[0] = rows;
  check(H5Dset_extent(dset, d.data()), dset, "cannot extend dataset");
}

template <class T>
void write_rows(hid_t dset, hsize_t first, hsize_t count, const T* data) {
  if (count == 0) return;
  auto [space, mem] = select_rows(dset, first, count);
  check(H5Dwrite(dset, native_type<T>(), mem.id(), space.id(), H5P_DEFAULT, data), dset,
        "cannot write rows");
}

template <class T>
void read_rows(hid_t dset, hsize_t first, hsize_t count, T* data) {
  if (count == 0) return;
  auto [space, mem] = select_rows(dset, first, count);
  check(H5Dread(dset, native_type<T>(), mem.id(), space.id(), H5P_DEFAULT, data), dset,
        "cannot read rows " + std::to_string(first) + ".." + std::to_string(first + count) +
            " (damaged or truncated file?)");
}

template <class T>
void write_all(hid_t loc, const std::string& name, const std::vector<hsize_t>& d, const T* data,
               const DatasetOptions& opt) {
  Dataset ds = create_dataset<T>(loc, name, d, opt);
  if (!d.empty() && d[0] > 0) write_rows<T>(ds.id(), 0, d[0], data);
}

template <class T>
std::vector<T> read_all(hid_t dset) {
  std::vector<hsize_t> d = dims(dset);
  std::vector<T> out(d.empty() ? 1 : d[0] * row_elements(d));
  if (d.empty()) {
    check(H5Dread(dset, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), dset,
          "cannot read");
  } else {
    read_rows<T>(dset, 0, d[0], out.data());
  }
  return out;
}

#define EPBENCH_H5_INSTANTIATE(T)                                                              \
  template Dataset create_dataset<T>(hid_t, const std::string&, const std::vector<hsize_t>&,   \
                                     const DatasetOptions&);                                   \
  template bool stored_type_is<T>(hid_t);                                                      \
  template void write_rows<T>(hid_t, hsize_t, hsize_t, const T*);                              \
  template void read_rows<T>(hid_t, hsize_t, hsize_t, T*);                                     \
  template void write_all<T>(hid_t, const std::string&, const std::vector<hsize_t>&, const T*, \
                             const DatasetOptions&);                                           \
  template std::vector<T> read_all<T>(hid_t);

EPBENCH_H5_INSTANTIATE(uint8_t)
EPBENCH_H5_INSTANTIATE(uint16_t)
EPBENCH_H5_INSTANTIATE(uint32_t)
EPBENCH_H5_INSTANTIATE(uint64_t)
EPBENCH_H5_INSTANTIATE(int32_t)
EPBENCH_H5_INSTANTIATE(int64_t)
EPBENCH_H5_INSTANTIATE(float)
EPBENCH_H5_INSTANTIATE(double)

}  // namespace epbench::h5

// SPDX-License-Identifier: BSD-3-Clause
// Compiles to nothing unless DiffBio was configured with HDF5.
#include <DiffBio_Config.hpp>

#ifdef DIFFBIO_ENABLE_HDF5

#include <DiffBio_Error.hpp>
#include <DiffBio_HDF5.hpp>

#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <system_error>

namespace diffbio::io {

// The header stores the file's hid_t as int64 to keep hdf5.h private (HDF5 >= 1.10: hid_t is
// int64_t).
static_assert(sizeof(hid_t) <= sizeof(std::int64_t), "hid_t does not fit H5File::id_");

namespace {

// Owns one HDF5 identifier (dataset, dataspace, type, ...) and closes it on scope exit, so error
// paths, which all throw, cannot leak identifiers (leaked identifiers keep the file open).
class Handle {
 public:
  using Close = herr_t (*)(hid_t);
  Handle(hid_t id, Close close) noexcept : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle& operator=(Handle&&) = delete;
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const noexcept { return id_; }

 private:
  hid_t id_;
  Close close_;
};

// HDF5 prints its whole error stack to stderr by default; DiffBio reports one line instead.
// Called at every file entry point (cheap) because thread-safe HDF5 builds keep this per thread.
void silence_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// The most specific message on HDF5's error stack ("name already exists", "truncated file..."),
// flattened to one line. Must be called right after the failing call: every HDF5 API call
// clears the stack on entry.
std::string hdf5_detail() {
  std::string detail;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        if (n == 0 && e != nullptr && e->desc != nullptr) *static_cast<std::string*>(data) = e->desc;
        return 0;
      },
      &detail);
  for (char& c : detail)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return detail;
}

// "/"-rooted, no trailing '/': "params/theta/" and "/params/theta" name the same object.
std::string object_path(const std::string& name) {
  std::string p = (name.empty() || name[0] != '/') ? "/" + name : name;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string type_class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "floating-point";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    default: return "non-numeric";
  }
}

std::string dims_text(const std::vector<std::size_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

// All code that touches hid_t lives here, as static members so it may use H5File's privates.
struct H5File::Ops {
  static hid_t fid(const H5File& f) { return static_cast<hid_t>(f.id_); }

  /// Error kind follows the file's role: reading a bad file is bad input, failing to write one
  /// is an output problem.
  [[noreturn]] static void fail(const H5File& f, const std::string& problem) {
    if (f.writable_) throw Error(ExitCode::output_error, f.path_ + ": " + problem);
    throw input_error(f.path_, -1, problem);
  }
  /// As fail(), appending HDF5's own explanation when there is one.
  [[noreturn]] static void fail_h5(const H5File& f, const std::string& problem) {
    const std::string detail = hdf5_detail();
    fail(f, detail.empty() ? problem : problem + " (HDF5: " + detail + ")");
  }

  static Handle checked(const H5File& f, hid_t id, Handle::Close close, const std::string& what) {
    if (id < 0) fail_h5(f, what);
    return Handle(id, close);
  }

  static void require_open(const H5File& f) {
    DIFFBIO_EXPECTS(f.id_ >= 0, "H5File used after close or move: " + f.path_);
  }
  static void require_writable(const H5File& f) {
    require_open(f);
    DIFFBIO_EXPECTS(f.writable_, "H5File opened with open_read() cannot be written: " + f.path_);
  }

  /// Link-creation properties that create missing parent groups, so "/a/b/c" needs no set-up.
  static Handle intermediate_groups(const H5File& f) {
    Handle lcpl = checked(f, H5Pcreate(H5P_LINK_CREATE), H5Pclose, "cannot create properties");
    if (H5Pset_create_intermediate_group(lcpl.get(), 1) < 0)
      fail_h5(f, "cannot set link-creation properties");
    return lcpl;
  }

  /// Result of resolving a path: whether the object exists, and if not whether an existing
  /// ancestor that is not a group (a dataset) stands in the way.
  struct Lookup {
    bool found = false;
    std::string blocker;  ///< the non-group ancestor, if any
  };

  /// Resolves \p p one component at a time. H5Lexists cannot be asked about "/a/b" directly: it
  /// fails alike when "/a" is missing, when "/a" is a dataset and when the file is corrupt. Only
  /// the last case is an error; the others are answers.
  static Lookup lookup(const H5File& f, const std::string& p) {
    if (p == "/") return {true, {}};
    for (std::size_t pos = p.find('/', 1);; pos = p.find('/', pos + 1)) {
      const std::string prefix = p.substr(0, pos);
      const htri_t link = H5Lexists(fid(f), prefix.c_str(), H5P_DEFAULT);
      if (link < 0) fail_h5(f, "'" + prefix + "': cannot look it up (corrupt file?)");
      if (link == 0) return {};
      const htri_t object = H5Oexists_by_name(fid(f), prefix.c_str(), H5P_DEFAULT);
      if (object < 0) fail_h5(f, "'" + prefix + "': cannot look it up (corrupt file?)");
      if (object == 0) return {};  // a dangling soft link
      if (pos == std::string::npos) return {true, {}};
      Handle obj = checked(f, H5Oopen(fid(f), prefix.c_str(), H5P_DEFAULT), H5Oclose,
                           "'" + prefix + "': cannot open (corrupt file?)");
      if (H5Iget_type(obj.get()) != H5I_GROUP) return {false, prefix};
    }
  }

  /// Fails unless \p p is free to be created (no object there, no dataset on the way).
  static void require_creatable(const H5File& f, const std::string& p, const std::string& what) {
    const Lookup l = lookup(f, p);
    if (l.found) fail(f, what + ": already exists");
    if (!l.blocker.empty())
      fail(f, what + ": cannot create it inside '" + l.blocker + "', which is not a group");
  }

  static std::vector<hsize_t> shape(const H5File& f, const std::string& p,
                                    const std::vector<std::size_t>& dims, std::size_t n) {
    if (dims.empty()) return {static_cast<hsize_t>(n)};
    std::size_t count = 1;
    for (std::size_t d : dims) count *= d;
    // A caller bug, not an I/O problem: say so with the exit code for bugs.
    if (dims.size() > H5S_MAX_RANK || count != n)
      throw Error(ExitCode::internal, f.path_ + ": dataset '" + p + "': dims " + dims_text(dims) +
                                          " do not match the " + std::to_string(n) +
                                          " values given");
    return std::vector<hsize_t>(dims.begin(), dims.end());
  }

  static void write_raw(H5File& f, const std::string& name, const void* data, std::size_t n,
                        const std::vector<std::size_t>& dims, hid_t mem_type, hid_t file_type) {
    require_writable(f);
    const std::string p = object_path(name);
    const std::vector<hsize_t> shp = shape(f, p, dims, n);
    // Checked here because HDF5's own messages for these name neither dataset nor reason.
    require_creatable(f, p, "dataset '" + p + "'");
    Handle lcpl = intermediate_groups(f);
    Handle space = checked(f, H5Screate_simple(static_cast<int>(shp.size()), shp.data(), nullptr),
                           H5Sclose, "dataset '" + p + "': cannot create dataspace");
    Handle dset = checked(f,
                          H5Dcreate2(fid(f), p.c_str(), file_type, space.get(), lcpl.get(),
                                     H5P_DEFAULT, H5P_DEFAULT),
                          H5Dclose, "dataset '" + p + "': cannot create");
    // HDF5 rejects a null buffer even for zero elements; there is nothing to write then anyway.
    if (n > 0 && H5Dwrite(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
      fail_h5(f, "dataset '" + p + "': cannot write");
  }

  /// Opens group-or-dataset \p p as a dataset, with "not found"/"not a dataset" messages.
  static Handle open_dataset(const H5File& f, const std::string& p) {
    require_open(f);
    if (!f.has(p)) fail(f, "dataset '" + p + "' not found");
    Handle obj = checked(f, H5Oopen(fid(f), p.c_str(), H5P_DEFAULT), H5Oclose,
                         "dataset '" + p + "': cannot open");
    if (H5Iget_type(obj.get()) != H5I_DATASET) fail(f, "'" + p + "' is a group, not a dataset");
    return obj;
  }

  /// Dimensions and element count of a dataspace (scalar: no dims, one element).
  static std::vector<std::size_t> extent(const H5File& f, hid_t space, const std::string& what,
                                         std::size_t& npoints) {
    const int rank = H5Sget_simple_extent_ndims(space);
    const hssize_t np = H5Sget_simple_extent_npoints(space);
    if (rank < 0 || np < 0) fail_h5(f, what + ": cannot read its dimensions");
    std::vector<hsize_t> d(static_cast<std::size_t>(rank));
    if (rank > 0 && H5Sget_simple_extent_dims(space, d.data(), nullptr) < 0)
      fail_h5(f, what + ": cannot read its dimensions");
    npoints = static_cast<std::size_t>(np);
    return std::vector<std::size_t>(d.begin(), d.end());
  }

  template <class T>
  static std::vector<T> read_numeric(const H5File& f, const std::string& name,
                                     std::vector<std::size_t>* dims, hid_t mem_type,
                                     bool integer_only, const char* as) {
    const std::string p = object_path(name);
    const std::string what = "dataset '" + p + "'";
    Handle dset = open_dataset(f, p);
    Handle type = checked(f, H5Dget_type(dset.get()), H5Tclose, what + ": cannot read its type");
    const H5T_class_t cls = H5Tget_class(type.get());
    if (!(cls == H5T_INTEGER || (cls == H5T_FLOAT && !integer_only)))
      fail(f, what + " holds " + type_class_name(cls) + " values, cannot read them as " + as);
    Handle space = checked(f, H5Dget_space(dset.get()), H5Sclose, what + ": cannot read its shape");
    std::size_t n = 0;
    std::vector<std::size_t> d = extent(f, space.get(), what, n);
    std::vector<T> out(n);
    if (n > 0 && H5Dread(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
      fail_h5(f, what + ": cannot read");
    if (dims) *dims = std::move(d);
    return out;
  }

  /// Reads \p n strings of on-disk type \p file_type via \p read (H5Dread or H5Aread),
  /// accepting both variable-length strings (ours, h5py's default) and fixed-length ones.
  template <class Read>
  static std::vector<std::string> read_strings(const H5File& f, const std::string& what,
                                               hid_t file_type, hid_t space, std::size_t n,
                                               Read read) {
    if (H5Tget_class(file_type) != H5T_STRING)
      fail(f, what + " holds " + type_class_name(H5Tget_class(file_type)) +
                  " values, cannot read them as strings");
    std::vector<std::string> out(n);
    if (n == 0) return out;
    Handle mem = checked(f, H5Tcopy(H5T_C_S1), H5Tclose, what + ": cannot create string type");
    H5Tset_cset(mem.get(), H5Tget_cset(file_type));
    const htri_t variable = H5Tis_variable_str(file_type);
    if (variable < 0) fail_h5(f, what + ": cannot read its string type");
    if (variable > 0) {
      H5Tset_size(mem.get(), H5T_VARIABLE);
      std::vector<char*> buf(n, nullptr);
      if (read(mem.get(), buf.data()) < 0) fail_h5(f, what + ": cannot read");
      for (std::size_t i = 0; i < n; ++i)
        if (buf[i]) out[i] = buf[i];
      // HDF5 allocated each string; hand them back.
#if H5_VERSION_GE(1, 12, 0)
      H5Treclaim(mem.get(), space, H5P_DEFAULT, buf.data());
#else
      H5Dvlen_reclaim(mem.get(), space, H5P_DEFAULT, buf.data());
#endif
    } else {
      const std::size_t size = H5Tget_size(file_type);
      if (size == 0) fail_h5(f, what + ": cannot read its string type");
      // NULLPAD in memory keeps a string that fills its whole slot intact (NULLTERM would drop
      // its last character); trailing NULs are cut below.
      H5Tset_size(mem.get(), size);
      H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
      std::vector<char> buf(n * size);
      if (read(mem.get(), buf.data()) < 0) fail_h5(f, what + ": cannot read");
      for (std::size_t i = 0; i < n; ++i) {
        const char* s = buf.data() + i * size;
        std::size_t len = 0;
        while (len < size && s[len] != '\0') ++len;
        out[i].assign(s, len);
      }
    }
    return out;
  }

  static Handle variable_string_type(const H5File& f, const std::string& what) {
    Handle t = checked(f, H5Tcopy(H5T_C_S1), H5Tclose, what + ": cannot create string type");
    if (H5Tset_size(t.get(), H5T_VARIABLE) < 0 || H5Tset_cset(t.get(), H5T_CSET_UTF8) < 0)
      fail_h5(f, what + ": cannot create string type");
    return t;
  }

  static void write_attribute(H5File& f, const std::string& object, const std::string& name,
                              hid_t file_type, hid_t mem_type, const void* value) {
    require_writable(f);
    const std::string p = object_path(object);
    const std::string what = "attribute '" + name + "' of '" + p + "'";
    if (!f.has(p)) {
      require_creatable(f, p, "group '" + p + "'");
      Handle lcpl = intermediate_groups(f);
      checked(f, H5Gcreate2(fid(f), p.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
              "group '" + p + "': cannot create");
    }
    const htri_t exists = H5Aexists_by_name(fid(f), p.c_str(), name.c_str(), H5P_DEFAULT);
    if (exists < 0) fail_h5(f, what + ": cannot check for it");
    // Replace rather than fail: attributes are metadata that a writer may legitimately update.
    if (exists > 0 && H5Adelete_by_name(fid(f), p.c_str(), name.c_str(), H5P_DEFAULT) < 0)
      fail_h5(f, what + ": cannot replace it");
    Handle space = checked(f, H5Screate(H5S_SCALAR), H5Sclose, what + ": cannot create dataspace");
    Handle attr = checked(f,
                          H5Acreate_by_name(fid(f), p.c_str(), name.c_str(), file_type,
                                            space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                          H5Aclose, what + ": cannot create");
    if (H5Awrite(attr.get(), mem_type, value) < 0) fail_h5(f, what + ": cannot write");
  }

  /// Opens attribute \p name of \p object, which must hold exactly one value.
  static Handle open_attribute(const H5File& f, const std::string& object,
                               const std::string& name, std::string& what) {
    require_open(f);
    const std::string p = object_path(object);
    what = "attribute '" + name + "' of '" + p + "'";
    if (!f.has(p)) fail(f, what + ": object '" + p + "' not found");
    const htri_t exists = H5Aexists_by_name(fid(f), p.c_str(), name.c_str(), H5P_DEFAULT);
    if (exists < 0) fail_h5(f, what + ": cannot check for it");
    if (exists == 0) fail(f, what + " not found");
    Handle attr = checked(f, H5Aopen_by_name(fid(f), p.c_str(), name.c_str(), H5P_DEFAULT,
                                             H5P_DEFAULT),
                          H5Aclose, what + ": cannot open");
    Handle space = checked(f, H5Aget_space(attr.get()), H5Sclose, what + ": cannot read its shape");
    std::size_t n = 0;
    extent(f, space.get(), what, n);
    if (n != 1) fail(f, what + " holds " + std::to_string(n) + " values, expected one");
    return attr;
  }

  template <class T>
  static T read_numeric_attribute(const H5File& f, const std::string& object,
                                  const std::string& name, hid_t mem_type, bool integer_only,
                                  const char* as) {
    std::string what;
    Handle attr = open_attribute(f, object, name, what);
    Handle type = checked(f, H5Aget_type(attr.get()), H5Tclose, what + ": cannot read its type");
    const H5T_class_t cls = H5Tget_class(type.get());
    if (!(cls == H5T_INTEGER || (cls == H5T_FLOAT && !integer_only)))
      fail(f, what + " holds a " + type_class_name(cls) + " value, cannot read it as " + as);
    T value{};
    if (H5Aread(attr.get(), mem_type, &value) < 0) fail_h5(f, what + ": cannot read");
    return value;
  }
};

// ---- life cycle -------------------------------------------------------------------------------

H5File H5File::create(const std::string& path) {
  silence_hdf5();
  H5File f(path, true);
  f.atomic_.emplace(path);  // throws output_error for a missing directory
  // STRONG close degree: closing the file closes anything still open in it, so the rename in
  // close_and_commit() never moves a file HDF5 still writes to.
  Handle fapl = Ops::checked(f, H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot create properties");
  H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
  const std::string temp = f.atomic_->temp_path().string();
  const hid_t id = H5Fcreate(temp.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get());
  if (id < 0) Ops::fail_h5(f, "cannot create temporary HDF5 file '" + temp + "'");
  f.id_ = id;
  return f;
}

H5File H5File::open_read(const std::string& path) {
  silence_hdf5();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw input_error(path, -1, "cannot open file: is a directory");
  {
    // Tell "missing/unreadable" apart from "not HDF5": H5Fis_hdf5 fails alike for both.
    std::ifstream probe(path, std::ios::binary);
    if (!probe.is_open()) throw input_error(path, -1, "cannot open file");
  }
#if H5_VERSION_GE(1, 12, 0)
  const htri_t is_hdf5 = H5Fis_accessible(path.c_str(), H5P_DEFAULT);
#else
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
#endif
  if (is_hdf5 <= 0) throw input_error(path, -1, "not an HDF5 file");
  H5File f(path, false);
  Handle fapl = Ops::checked(f, H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot create properties");
  H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (id < 0) Ops::fail_h5(f, "cannot open HDF5 file (truncated or corrupt?)");
  f.id_ = id;
  return f;
}

H5File::H5File(H5File&& other) noexcept
    : path_(std::move(other.path_)),
      writable_(other.writable_),
      id_(other.id_),
      atomic_(std::move(other.atomic_)) {
  other.id_ = -1;
  other.atomic_.reset();
}

H5File& H5File::operator=(H5File&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    writable_ = other.writable_;
    id_ = other.id_;
    atomic_ = std::move(other.atomic_);
    other.id_ = -1;
    other.atomic_.reset();
  }
  return *this;
}

H5File::~H5File() { close(); }

void H5File::close() noexcept {
  if (id_ >= 0) H5Fclose(static_cast<hid_t>(id_));
  id_ = -1;
  atomic_.reset();  // deletes the temporary file of an uncommitted output
}

void H5File::close_and_commit() {
  Ops::require_writable(*this);
  const hid_t id = static_cast<hid_t>(id_);
  id_ = -1;
  // H5Fclose writes the metadata cache; a full disk surfaces here. On failure the temporary
  // file stays uncommitted and is deleted with this object.
  if (H5Fclose(id) < 0) Ops::fail_h5(*this, "cannot write HDF5 file");
  atomic_->commit();
}

// ---- writing ----------------------------------------------------------------------------------

void H5File::write_dataset(const std::string& name, const std::vector<double>& data,
                           const std::vector<std::size_t>& dims) {
  Ops::write_raw(*this, name, data.data(), data.size(), dims, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE);
}

void H5File::write_dataset(const std::string& name, const std::vector<float>& data,
                           const std::vector<std::size_t>& dims) {
  Ops::write_raw(*this, name, data.data(), data.size(), dims, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE);
}

void H5File::write_dataset(const std::string& name, const std::vector<std::int64_t>& data,
                           const std::vector<std::size_t>& dims) {
  Ops::write_raw(*this, name, data.data(), data.size(), dims, H5T_NATIVE_INT64, H5T_STD_I64LE);
}

void H5File::write_dataset(const std::string& name, const std::vector<std::string>& data,
                           const std::vector<std::size_t>& dims) {
  Ops::require_writable(*this);
  Handle type = Ops::variable_string_type(*this, "dataset '" + object_path(name) + "'");
  std::vector<const char*> ptrs(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) ptrs[i] = data[i].c_str();
  Ops::write_raw(*this, name, ptrs.data(), ptrs.size(), dims, type.get(), type.get());
}

void H5File::write_attribute(const std::string& object, const std::string& name, double value) {
  Ops::write_attribute(*this, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

void H5File::write_attribute(const std::string& object, const std::string& name,
                             std::int64_t value) {
  Ops::write_attribute(*this, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void H5File::write_attribute(const std::string& object, const std::string& name,
                             const std::string& value) {
  Ops::require_writable(*this);
  Handle type = Ops::variable_string_type(*this, "attribute '" + name + "'");
  const char* s = value.c_str();
  Ops::write_attribute(*this, object, name, type.get(), type.get(), &s);
}

// ---- reading ----------------------------------------------------------------------------------

bool H5File::has(const std::string& name) const {
  Ops::require_open(*this);
  return Ops::lookup(*this, object_path(name)).found;
}

bool H5File::has_attribute(const std::string& object, const std::string& name) const {
  if (!has(object)) return false;
  const std::string p = object_path(object);
  const htri_t e = H5Aexists_by_name(Ops::fid(*this), p.c_str(), name.c_str(), H5P_DEFAULT);
  if (e < 0) Ops::fail_h5(*this, "attribute '" + name + "' of '" + p + "': cannot check for it");
  return e > 0;
}

std::vector<std::size_t> H5File::dataset_dims(const std::string& name) const {
  const std::string p = object_path(name);
  Handle dset = Ops::open_dataset(*this, p);
  Handle space = Ops::checked(*this, H5Dget_space(dset.get()), H5Sclose,
                              "dataset '" + p + "': cannot read its shape");
  std::size_t n = 0;
  return Ops::extent(*this, space.get(), "dataset '" + p + "'", n);
}

std::vector<double> H5File::read_dataset_double(const std::string& name,
                                                std::vector<std::size_t>* dims) const {
  return Ops::read_numeric<double>(*this, name, dims, H5T_NATIVE_DOUBLE, false, "double");
}

std::vector<float> H5File::read_dataset_float(const std::string& name,
                                              std::vector<std::size_t>* dims) const {
  return Ops::read_numeric<float>(*this, name, dims, H5T_NATIVE_FLOAT, false, "float");
}

std::vector<std::int64_t> H5File::read_dataset_int64(const std::string& name,
                                                     std::vector<std::size_t>* dims) const {
  return Ops::read_numeric<std::int64_t>(*this, name, dims, H5T_NATIVE_INT64, true, "int64");
}

std::vector<std::string> H5File::read_dataset_string(const std::string& name,
                                                     std::vector<std::size_t>* dims) const {
  const std::string p = object_path(name);
  const std::string what = "dataset '" + p + "'";
  Handle dset = Ops::open_dataset(*this, p);
  Handle type = Ops::checked(*this, H5Dget_type(dset.get()), H5Tclose,
                             what + ": cannot read its type");
  Handle space = Ops::checked(*this, H5Dget_space(dset.get()), H5Sclose,
                              what + ": cannot read its shape");
  std::size_t n = 0;
  std::vector<std::size_t> d = Ops::extent(*this, space.get(), what, n);
  std::vector<std::string> out =
      Ops::read_strings(*this, what, type.get(), space.get(), n, [&](hid_t mem, void* buf) {
        return H5Dread(dset.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
      });
  if (dims) *dims = std::move(d);
  return out;
}

double H5File::read_attribute_double(const std::string& object, const std::string& name) const {
  return Ops::read_numeric_attribute<double>(*this, object, name, H5T_NATIVE_DOUBLE, false,
                                             "double");
}

std::int64_t H5File::read_attribute_int64(const std::string& object,
                                          const std::string& name) const {
  return Ops::read_numeric_attribute<std::int64_t>(*this, object, name, H5T_NATIVE_INT64, true,
                                                   "int64");
}

std::string H5File::read_attribute_string(const std::string& object,
                                          const std::string& name) const {
  std::string what;
  Handle attr = Ops::open_attribute(*this, object, name, what);
  Handle type = Ops::checked(*this, H5Aget_type(attr.get()), H5Tclose,
                             what + ": cannot read its type");
  Handle space = Ops::checked(*this, H5Aget_space(attr.get()), H5Sclose,
                              what + ": cannot read its shape");
  return Ops::read_strings(*this, what, type.get(), space.get(), 1,
                           [&](hid_t mem, void* buf) { return H5Aread(attr.get(), mem, buf); })
      .front();
}

}  // namespace diffbio::io

#endif  // DIFFBIO_ENABLE_HDF5

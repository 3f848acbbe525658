// SPDX-License-Identifier: BSD-3-Clause
// 10x Genomics HDF5 and AnnData .h5ad reading and writing (DiffBio_SingleCell.hpp).
//
// Written directly against the HDF5 C API (hyperslab reads, array and enum attributes and
// extendable datasets are beyond H5File), in H5File's style: RAII handles, HDF5's stderr
// printing off, one-line diffbio::Error per problem, temporary file + rename for outputs.
// H5File::open_read() is reused to classify unopenable files (missing / not HDF5 / truncated).
#include <DiffBio_Config.hpp>

#ifdef DIFFBIO_ENABLE_HDF5

#include <DiffBio_AtomicFile.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_HDF5.hpp>
#include <DiffBio_SingleCell.hpp>

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>

namespace diffbio::io {

namespace {

// ============================================================================ HDF5 plumbing

class Handle {
 public:
  using Close = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Close close) noexcept : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset() noexcept {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t get() const noexcept { return id_; }
  /// Gives up ownership: the caller closes the identifier.
  hid_t release() noexcept {
    const hid_t id = id_;
    id_ = -1;
    return id;
  }

 private:
  hid_t id_ = -1;
  Close close_ = nullptr;
};

void silence_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string hdf5_detail() {
  std::string detail;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        if (n == 0 && e != nullptr && e->desc != nullptr) *static_cast<std::string*>(data) = e->desc;
        return 0;
      },
      &detail);
  for (char& ch : detail)
    if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
  return detail;
}

std::string child(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

std::string quoted(const std::string& p) { return "'" + p + "'"; }

/// File name and role: errors reading are input errors, errors writing output errors.
struct Ctx {
  std::string file;
  bool writing = false;

  [[noreturn]] void fail(const std::string& problem) const {
    if (writing) throw Error(ExitCode::output_error, file + ": " + problem);
    throw input_error(file, -1, problem);
  }
  [[noreturn]] void fail_h5(const std::string& problem) const {
    const std::string d = hdf5_detail();
    fail(d.empty() ? problem : problem + " (HDF5: " + d + ")");
  }
  Handle check(hid_t id, Handle::Close close, const std::string& what) const {
    if (id < 0) fail_h5(what);
    return Handle(id, close);
  }
};

enum class Kind { none, group, dataset, other };

/// Resolves \p p one component at a time (H5Lexists on "/a/b" fails alike for a missing "/a",
/// a dataset "/a" and a corrupt file; only the last is an error).
Kind kind_of(const Ctx& c, hid_t file, const std::string& p) {
  if (p == "/") return Kind::group;
  for (std::size_t pos = p.find('/', 1);; pos = p.find('/', pos + 1)) {
    const std::string prefix = p.substr(0, pos);
    const htri_t link = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
    if (link < 0) c.fail_h5(quoted(prefix) + ": cannot look it up (corrupt file?)");
    if (link == 0) return Kind::none;
    const htri_t object = H5Oexists_by_name(file, prefix.c_str(), H5P_DEFAULT);
    if (object < 0) c.fail_h5(quoted(prefix) + ": cannot look it up (corrupt file?)");
    if (object == 0) return Kind::none;
    Handle obj = c.check(H5Oopen(file, prefix.c_str(), H5P_DEFAULT), H5Oclose,
                         quoted(prefix) + ": cannot open (corrupt file?)");
    const H5I_type_t t = H5Iget_type(obj.get());
    if (pos == std::string::npos)
      return t == H5I_GROUP ? Kind::group : (t == H5I_DATASET ? Kind::dataset : Kind::other);
    if (t != H5I_GROUP) return Kind::none;
  }
}

std::string class_name(H5T_class_t cls) {
  switch (cls) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "floating-point";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_REFERENCE: return "reference";
    default: return "non-numeric";
  }
}

/// Names of the links of group \p p in name order (empty if \p p is not a group).
std::vector<std::string> children(const Ctx& c, hid_t file, const std::string& p) {
  std::vector<std::string> out;
  if (kind_of(c, file, p) != Kind::group) return out;
  Handle g = c.check(H5Gopen2(file, p.c_str(), H5P_DEFAULT), H5Gclose,
                     "group " + quoted(p) + ": cannot open");
  H5G_info_t info;
  if (H5Gget_info(g.get(), &info) < 0) c.fail_h5("group " + quoted(p) + ": cannot list it");
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                           H5P_DEFAULT);
    if (len < 0) c.fail_h5("group " + quoted(p) + ": cannot list it");
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(len));
    out.push_back(name);
  }
  return out;
}

// ---------------------------------------------------------------------------- strings

/// Reads \p n strings of file type \p ftype through \p read(memtype, buffer); variable- and
/// fixed-length strings alike. \p memspace is the memory dataspace (for reclaiming vlen data).
template <class Read>
std::vector<std::string> read_strings(const Ctx& c, const std::string& what, hid_t ftype,
                                      hid_t memspace, std::size_t n, Read read) {
  if (H5Tget_class(ftype) != H5T_STRING)
    c.fail(what + " holds " + class_name(H5Tget_class(ftype)) + " values, expected strings");
  std::vector<std::string> out(n);
  if (n == 0) return out;
  Handle mem = c.check(H5Tcopy(H5T_C_S1), H5Tclose, what + ": cannot create string type");
  H5Tset_cset(mem.get(), H5Tget_cset(ftype));
  const htri_t variable = H5Tis_variable_str(ftype);
  if (variable < 0) c.fail_h5(what + ": cannot read its string type");
  if (variable > 0) {
    H5Tset_size(mem.get(), H5T_VARIABLE);
    std::vector<char*> buf(n, nullptr);
    if (read(mem.get(), buf.data()) < 0) c.fail_h5(what + ": cannot read (truncated?)");
    for (std::size_t i = 0; i < n; ++i)
      if (buf[i]) out[i] = buf[i];
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mem.get(), memspace, H5P_DEFAULT, buf.data());
#else
    H5Dvlen_reclaim(mem.get(), memspace, H5P_DEFAULT, buf.data());
#endif
  } else {
    const std::size_t size = H5Tget_size(ftype);
    if (size == 0) c.fail_h5(what + ": cannot read its string type");
    H5Tset_size(mem.get(), size);
    H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
    std::vector<char> buf(n * size);
    if (read(mem.get(), buf.data()) < 0) c.fail_h5(what + ": cannot read (truncated?)");
    for (std::size_t i = 0; i < n; ++i) {
      const char* s = buf.data() + i * size;
      std::size_t len = 0;
      while (len < size && s[len] != '\0') ++len;
      out[i].assign(s, len);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------- attributes

struct Attr {
  Handle id, type, space;
  std::size_t n = 0;
  H5T_class_t cls = H5T_NO_CLASS;
  std::string what;
};

bool has_attr(const Ctx& c, hid_t file, const std::string& obj, const std::string& name) {
  const htri_t e = H5Aexists_by_name(file, obj.c_str(), name.c_str(), H5P_DEFAULT);
  if (e < 0) c.fail_h5(quoted(obj) + ": cannot check for attribute " + quoted(name));
  return e > 0;
}

Attr open_attr(const Ctx& c, hid_t file, const std::string& obj, const std::string& name) {
  Attr a;
  a.what = quoted(obj) + ": attribute " + quoted(name);
  if (!has_attr(c, file, obj, name)) c.fail(a.what + " is missing");
  a.id = c.check(H5Aopen_by_name(file, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                 H5Aclose, a.what + ": cannot open");
  a.type = c.check(H5Aget_type(a.id.get()), H5Tclose, a.what + ": cannot read its type");
  a.space = c.check(H5Aget_space(a.id.get()), H5Sclose, a.what + ": cannot read its shape");
  const hssize_t np = H5Sget_simple_extent_npoints(a.space.get());
  if (np < 0) c.fail_h5(a.what + ": cannot read its shape");
  a.n = static_cast<std::size_t>(np);
  a.cls = H5Tget_class(a.type.get());
  return a;
}

std::vector<std::string> attr_strings(const Ctx& c, hid_t file, const std::string& obj,
                                      const std::string& name) {
  Attr a = open_attr(c, file, obj, name);
  if (a.n == 0) return {};  // h5py stores an empty list as an empty float64 array
  return read_strings(c, a.what, a.type.get(), a.space.get(), a.n,
                      [&](hid_t mem, void* buf) { return H5Aread(a.id.get(), mem, buf); });
}

std::string attr_string(const Ctx& c, hid_t file, const std::string& obj,
                        const std::string& name) {
  Attr a = open_attr(c, file, obj, name);
  if (a.cls != H5T_STRING) c.fail(a.what + " is " + class_name(a.cls) + ", expected a string");
  if (a.n != 1) c.fail(a.what + " holds " + std::to_string(a.n) + " values, expected one");
  return read_strings(c, a.what, a.type.get(), a.space.get(), 1, [&](hid_t mem, void* buf) {
           return H5Aread(a.id.get(), mem, buf);
         }).front();
}

std::string attr_string_or(const Ctx& c, hid_t file, const std::string& obj,
                           const std::string& name, const std::string& fallback) {
  return has_attr(c, file, obj, name) ? attr_string(c, file, obj, name) : fallback;
}

std::vector<std::int64_t> attr_ints(const Ctx& c, hid_t file, const std::string& obj,
                                    const std::string& name) {
  Attr a = open_attr(c, file, obj, name);
  if (a.cls != H5T_INTEGER) c.fail(a.what + " is " + class_name(a.cls) + ", expected integers");
  std::vector<std::int64_t> v(a.n);
  if (a.n > 0 && H5Aread(a.id.get(), H5T_NATIVE_INT64, v.data()) < 0)
    c.fail_h5(a.what + ": cannot read");
  return v;
}

/// Signed integer of `size` bytes at p (enum values of h5py booleans are int8).
std::int64_t raw_int(const unsigned char* p, std::size_t size) {
  switch (size) {
    case 1: { std::int8_t v; std::memcpy(&v, p, 1); return v; }
    case 2: { std::int16_t v; std::memcpy(&v, p, 2); return v; }
    case 4: { std::int32_t v; std::memcpy(&v, p, 4); return v; }
    default: { std::int64_t v; std::memcpy(&v, p, 8); return v; }
  }
}

/// A boolean attribute: h5py writes numpy bools as an enum {FALSE, TRUE} over int8.
bool attr_bool(const Ctx& c, hid_t file, const std::string& obj, const std::string& name) {
  Attr a = open_attr(c, file, obj, name);
  if (a.n != 1) c.fail(a.what + " holds " + std::to_string(a.n) + " values, expected one");
  if (a.cls == H5T_INTEGER) {
    std::int64_t v = 0;
    if (H5Aread(a.id.get(), H5T_NATIVE_INT64, &v) < 0) c.fail_h5(a.what + ": cannot read");
    return v != 0;
  }
  if (a.cls != H5T_ENUM) c.fail(a.what + " is " + class_name(a.cls) + ", expected a boolean");
  Handle mt = c.check(H5Tget_native_type(a.type.get(), H5T_DIR_ASCEND), H5Tclose,
                      a.what + ": cannot read its type");
  const std::size_t size = H5Tget_size(mt.get());
  if (size == 0 || size > 8) c.fail(a.what + ": unsupported enum size");
  unsigned char buf[8] = {0};
  if (H5Aread(a.id.get(), mt.get(), buf) < 0) c.fail_h5(a.what + ": cannot read");
  return raw_int(buf, size) != 0;
}

// ---------------------------------------------------------------------------- datasets

struct Dset {
  Handle id, type, space;
  std::string path;
  std::vector<std::int64_t> dims;
  H5T_class_t cls = H5T_NO_CLASS;
  std::int64_t length() const { return dims.empty() ? 1 : dims[0]; }
  std::int64_t row_size() const {
    std::int64_t r = 1;
    for (std::size_t k = 1; k < dims.size(); ++k) r *= dims[k];
    return r;
  }
  std::string what() const { return "dataset " + quoted(path); }
};

Dset open_dataset(const Ctx& c, hid_t file, const std::string& p) {
  const Kind k = kind_of(c, file, p);
  if (k == Kind::none) c.fail("dataset " + quoted(p) + " not found");
  if (k != Kind::dataset) c.fail(quoted(p) + " is a group, expected a dataset");
  Dset d;
  d.path = p;
  d.id = c.check(H5Dopen2(file, p.c_str(), H5P_DEFAULT), H5Dclose, d.what() + ": cannot open");
  d.type = c.check(H5Dget_type(d.id.get()), H5Tclose, d.what() + ": cannot read its type");
  d.space = c.check(H5Dget_space(d.id.get()), H5Sclose, d.what() + ": cannot read its shape");
  const int rank = H5Sget_simple_extent_ndims(d.space.get());
  if (rank < 0) c.fail_h5(d.what() + ": cannot read its shape");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(d.space.get(), dims.data(), nullptr) < 0)
    c.fail_h5(d.what() + ": cannot read its shape");
  for (hsize_t x : dims) d.dims.push_back(static_cast<std::int64_t>(x));
  d.cls = H5Tget_class(d.type.get());
  return d;
}

void require_rank(const Ctx& c, const Dset& d, std::size_t rank) {
  if (d.dims.size() != rank)
    c.fail(d.what() + " has " + std::to_string(d.dims.size()) + " dimensions, expected " +
           std::to_string(rank));
}

void require_numeric(const Ctx& c, const Dset& d, bool integer_only) {
  if (!(d.cls == H5T_INTEGER || (d.cls == H5T_FLOAT && !integer_only)))
    c.fail(d.what() + " holds " + class_name(d.cls) + " values, expected " +
           (integer_only ? "integers" : "numbers"));
}

template <class T>
hid_t native_type() {
  if constexpr (std::is_same<T, double>::value) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same<T, float>::value) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same<T, std::int64_t>::value) return H5T_NATIVE_INT64;
  else if constexpr (std::is_same<T, std::int32_t>::value) return H5T_NATIVE_INT32;
  else static_assert(sizeof(T) == 0, "unsupported element type");
}

/// Selects rows [lo, lo + n) of dataset \p d (all of its other dimensions) in the file and a
/// matching 1-D memory space; returns the memory space.
Handle select_rows(const Ctx& c, const Dset& d, std::int64_t lo, std::int64_t n) {
  if (d.dims.empty()) c.fail(d.what() + " is a scalar, expected an array");
  if (lo < 0 || n < 0 || lo + n > d.dims[0])
    c.fail(d.what() + ": elements [" + std::to_string(lo) + ", " + std::to_string(lo + n) +
           ") are beyond its length " + std::to_string(d.dims[0]) + " (truncated dataset?)");
  std::vector<hsize_t> start(d.dims.size(), 0), count(d.dims.begin(), d.dims.end());
  start[0] = static_cast<hsize_t>(lo);
  count[0] = static_cast<hsize_t>(n);
  if (H5Sselect_hyperslab(d.space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                          nullptr) < 0)
    c.fail_h5(d.what() + ": cannot select rows");
  const hsize_t total = static_cast<hsize_t>(n * d.row_size());
  return c.check(H5Screate_simple(1, &total, nullptr), H5Sclose,
                 d.what() + ": cannot create memory space");
}

/// Numeric rows [lo, lo + n) converted by HDF5 to T (integers overflowing T are clipped).
template <class T>
std::vector<T> read_rows_of(const Ctx& c, const Dset& d, std::int64_t lo, std::int64_t n,
                            bool integer_only = false) {
  require_numeric(c, d, integer_only);
  Handle mem = select_rows(c, d, lo, n);
  std::vector<T> out(static_cast<std::size_t>(n * d.row_size()));
  if (!out.empty() &&
      H5Dread(d.id.get(), native_type<T>(), mem.get(), d.space.get(), H5P_DEFAULT, out.data()) < 0)
    c.fail_h5(d.what() + ": cannot read elements [" + std::to_string(lo) + ", " +
              std::to_string(lo + n) + ") (truncated or corrupt?)");
  return out;
}

template <class T>
std::vector<T> read_all_of(const Ctx& c, const Dset& d, bool integer_only = false) {
  if (d.dims.empty()) {  // scalar dataset
    require_numeric(c, d, integer_only);
    std::vector<T> out(1);
    if (H5Dread(d.id.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
      c.fail_h5(d.what() + ": cannot read");
    return out;
  }
  return read_rows_of<T>(c, d, 0, d.dims[0], integer_only);
}

/// Enum (h5py bool) or integer elements [lo, lo + n) as int64.
std::vector<std::int64_t> read_bool_rows(const Ctx& c, const Dset& d, std::int64_t lo,
                                         std::int64_t n) {
  if (d.cls == H5T_INTEGER) return read_rows_of<std::int64_t>(c, d, lo, n, true);
  if (d.cls != H5T_ENUM) c.fail(d.what() + " holds " + class_name(d.cls) + " values, expected booleans");
  Handle mt = c.check(H5Tget_native_type(d.type.get(), H5T_DIR_ASCEND), H5Tclose,
                      d.what() + ": cannot read its type");
  const std::size_t size = H5Tget_size(mt.get());
  if (size == 0 || size > 8) c.fail(d.what() + ": unsupported enum size");
  Handle mem = select_rows(c, d, lo, n);
  const std::size_t count = static_cast<std::size_t>(n * d.row_size());
  std::vector<unsigned char> buf(count * size);
  if (count > 0 && H5Dread(d.id.get(), mt.get(), mem.get(), d.space.get(), H5P_DEFAULT, buf.data()) < 0)
    c.fail_h5(d.what() + ": cannot read (truncated or corrupt?)");
  std::vector<std::int64_t> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = raw_int(buf.data() + i * size, size) != 0;
  return out;
}

std::vector<std::string> read_string_rows(const Ctx& c, const Dset& d, std::int64_t lo,
                                          std::int64_t n) {
  if (d.cls != H5T_STRING)
    c.fail(d.what() + " holds " + class_name(d.cls) + " values, expected strings");
  Handle mem = select_rows(c, d, lo, n);
  return read_strings(c, d.what(), d.type.get(), mem.get(),
                      static_cast<std::size_t>(n * d.row_size()), [&](hid_t mt, void* buf) {
                        return H5Dread(d.id.get(), mt, mem.get(), d.space.get(), H5P_DEFAULT, buf);
                      });
}

std::string number_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
    return std::to_string(static_cast<long long>(v));
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

/// Strings of a 1-D dataset; numeric datasets are converted to text (integer-valued numbers
/// without a decimal point), for indices and categories that were stored as numbers.
std::vector<std::string> read_text_all(const Ctx& c, const Dset& d) {
  require_rank(c, d, 1);
  if (d.cls == H5T_STRING) return read_string_rows(c, d, 0, d.dims[0]);
  std::vector<double> v = read_all_of<double>(c, d);
  std::vector<std::string> out;
  out.reserve(v.size());
  for (double x : v) out.push_back(number_text(x));
  return out;
}

// ---------------------------------------------------------------------------- file opening

Handle open_file(const Ctx& c) {
  silence_hdf5();
  // H5File classifies unopenable files (missing, not HDF5, truncated) with its one-line errors.
  { H5File probe = H5File::open_read(c.file); }
  Handle fapl = c.check(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot create properties");
  H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
  return c.check(H5Fopen(c.file.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose,
                 "cannot open HDF5 file (truncated or corrupt?)");
}

// ============================================================================ CSR reading

/// The three datasets of a compressed sparse matrix whose major axis has n_major entries.
struct Compressed {
  Dset data, indices, indptr;
  std::int64_t n_major = 0, n_minor = 0, nnz = 0;
};

/// Checks the structure that needs no data pass: lengths, indptr[0] == 0, indptr[n] == nnz.
Compressed open_compressed(const Ctx& c, hid_t file, const std::string& group,
                           std::int64_t n_major, std::int64_t n_minor, const char* major_word) {
  Compressed m{open_dataset(c, file, child(group, "data")),
               open_dataset(c, file, child(group, "indices")),
               open_dataset(c, file, child(group, "indptr")), n_major, n_minor, 0};
  require_rank(c, m.data, 1);
  require_rank(c, m.indices, 1);
  require_rank(c, m.indptr, 1);
  require_numeric(c, m.data, false);
  require_numeric(c, m.indices, true);
  require_numeric(c, m.indptr, true);
  if (n_minor > std::numeric_limits<std::int32_t>::max())
    c.fail(quoted(group) + ": " + std::to_string(n_minor) +
           " columns exceed the supported 2^31 - 1");
  if (m.indptr.length() != n_major + 1)
    c.fail(m.indptr.what() + " has " + std::to_string(m.indptr.length()) +
           " entries, expected " + std::to_string(n_major + 1) + " (one per " + major_word +
           " + 1, from the shape)");
  if (m.indices.length() != m.data.length())
    c.fail(m.indices.what() + " has " + std::to_string(m.indices.length()) + " entries but " +
           m.data.what() + " has " + std::to_string(m.data.length()));
  m.nnz = m.data.length();
  const auto first = read_rows_of<std::int64_t>(c, m.indptr, 0, 1, true);
  const auto last = read_rows_of<std::int64_t>(c, m.indptr, n_major, 1, true);
  if (first[0] != 0) c.fail(m.indptr.what() + ": indptr[0] = " + std::to_string(first[0]) + ", expected 0");
  if (last[0] != m.nnz)
    c.fail(m.indptr.what() + ": indptr[" + std::to_string(n_major) + "] = " +
           std::to_string(last[0]) + " but data has " + std::to_string(m.nnz) +
           " entries (truncated or inconsistent datasets)");
  return m;
}

/// Major-axis entries [b, e) as CSR (first_row = b), reading only their slice.
template <class S>
CsrMatrix<S> read_compressed(const Ctx& c, const Compressed& m, std::int64_t b, std::int64_t e,
                             const char* major_word) {
  CsrMatrix<S> out;
  out.n_rows = e - b;
  out.n_cols = m.n_minor;
  out.first_row = b;
  out.indptr = read_rows_of<std::int64_t>(c, m.indptr, b, e - b + 1, true);
  for (std::int64_t i = 0; i <= e - b; ++i) {
    const std::int64_t v = out.indptr[static_cast<std::size_t>(i)];
    if (v < 0 || v > m.nnz)
      c.fail(m.indptr.what() + ": indptr[" + std::to_string(b + i) + "] = " + std::to_string(v) +
             " is outside [0, " + std::to_string(m.nnz) + "]");
    if (i > 0 && v < out.indptr[static_cast<std::size_t>(i) - 1])
      c.fail(m.indptr.what() + ": not non-decreasing at " + major_word + " " +
             std::to_string(b + i - 1) + " (indptr[" + std::to_string(b + i - 1) + "] = " +
             std::to_string(out.indptr[static_cast<std::size_t>(i) - 1]) + " > indptr[" +
             std::to_string(b + i) + "] = " + std::to_string(v) + ")");
  }
  const std::int64_t lo = out.indptr.front(), hi = out.indptr.back();
  out.indices = read_rows_of<std::int32_t>(c, m.indices, lo, hi - lo, true);
  out.data = read_rows_of<S>(c, m.data, lo, hi - lo);
  for (auto& v : out.indptr) v -= lo;
  for (std::size_t k = 0; k < out.indices.size(); ++k) {
    const std::int32_t col = out.indices[k];
    if (col < 0 || col >= m.n_minor) {
      // Find the row for the message (rare path).
      std::int64_t r = 0;
      while (r < out.n_rows && out.indptr[static_cast<std::size_t>(r) + 1] <= static_cast<std::int64_t>(k)) ++r;
      c.fail(m.indices.what() + ": index " + std::to_string(col) + " at entry " +
             std::to_string(lo + static_cast<std::int64_t>(k)) + " (" + major_word + " " +
             std::to_string(b + r) + ") is outside [0, " + std::to_string(m.n_minor) + ")" +
             (col == std::numeric_limits<std::int32_t>::max() ||
                      col == std::numeric_limits<std::int32_t>::min()
                  ? " (clipped: the stored value exceeds 32 bits)"
                  : ""));
    }
  }
  return out;
}

void check_range(std::int64_t b, std::int64_t e, std::int64_t n, const std::string& what) {
  DIFFBIO_EXPECTS(0 <= b && b <= e && e <= n, what + ": row range [" + std::to_string(b) + ", " +
                                                  std::to_string(e) + ") outside [0, " +
                                                  std::to_string(n) + "]");
}

}  // namespace

// ============================================================================ 10x Genomics

struct TenxH5Reader::Impl {
  Ctx c;
  Handle file;  // declared first: closed last
  std::string group;
  bool v3 = true;
  std::optional<Compressed> m;
};

TenxH5Reader::TenxH5Reader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.c.file = path;
  s.file = open_file(s.c);
  const hid_t f = s.file.get();
  if (kind_of(s.c, f, "/matrix") == Kind::group) {
    s.group = "/matrix";
  } else {
    for (const auto& name : children(s.c, f, "/"))
      if (kind_of(s.c, f, child(child("/", name), "indptr")) == Kind::dataset) {
        s.group = child("/", name);
        s.v3 = false;
        break;
      }
    if (s.group.empty())
      s.c.fail("not a 10x feature-barcode matrix: no group '/matrix' (Cell Ranger >= 3) or "
               "'/<genome>' with indptr (Cell Ranger 2)");
  }
  Dset shape = open_dataset(s.c, f, child(s.group, "shape"));
  const auto sh = read_all_of<std::int64_t>(s.c, shape, true);
  if (sh.size() != 2 || sh[0] < 0 || sh[1] < 0)
    s.c.fail(shape.what() + ": expected two non-negative values [features, barcodes]");
  s.m = open_compressed(s.c, f, s.group, /*n_major=*/sh[1], /*n_minor=*/sh[0], "barcode");
  Dset bc = open_dataset(s.c, f, child(s.group, "barcodes"));
  require_rank(s.c, bc, 1);
  if (bc.length() != sh[1])
    s.c.fail(bc.what() + " has " + std::to_string(bc.length()) + " entries but the shape has " +
             std::to_string(sh[1]) + " barcodes");
  const std::vector<std::string> feature_sets =
      s.v3 ? std::vector<std::string>{"features/id", "features/name", "features/feature_type"}
           : std::vector<std::string>{"genes", "gene_names"};
  for (const auto& name : feature_sets) {
    Dset d = open_dataset(s.c, f, child(s.group, name));
    require_rank(s.c, d, 1);
    if (d.length() != sh[0])
      s.c.fail(d.what() + " has " + std::to_string(d.length()) + " entries but the shape has " +
               std::to_string(sh[0]) + " features");
  }
}

TenxH5Reader::~TenxH5Reader() = default;
TenxH5Reader::TenxH5Reader(TenxH5Reader&&) noexcept = default;
TenxH5Reader& TenxH5Reader::operator=(TenxH5Reader&&) noexcept = default;

const std::string& TenxH5Reader::path() const { return impl_->c.file; }
std::int64_t TenxH5Reader::n_cells() const { return impl_->m->n_major; }
std::int64_t TenxH5Reader::n_features() const { return impl_->m->n_minor; }
std::int64_t TenxH5Reader::nnz() const { return impl_->m->nnz; }
const std::string& TenxH5Reader::group() const { return impl_->group; }

template <class Scalar>
CsrMatrix<Scalar> TenxH5Reader::read_rows(std::int64_t begin, std::int64_t end) const {
  check_range(begin, end, n_cells(), "TenxH5Reader::read_rows");
  return read_compressed<Scalar>(impl_->c, *impl_->m, begin, end, "barcode");
}

std::vector<std::string> TenxH5Reader::barcodes(std::int64_t begin, std::int64_t end) const {
  if (end < 0) end = n_cells();
  check_range(begin, end, n_cells(), "TenxH5Reader::barcodes");
  Dset d = open_dataset(impl_->c, impl_->file.get(), child(impl_->group, "barcodes"));
  return read_string_rows(impl_->c, d, begin, end - begin);
}

FeatureTable TenxH5Reader::features() const {
  const Ctx& c = impl_->c;
  const hid_t f = impl_->file.get();
  auto strings = [&](const std::string& name) {
    Dset d = open_dataset(c, f, child(impl_->group, name));
    return read_string_rows(c, d, 0, d.length());
  };
  FeatureTable t;
  if (impl_->v3) {
    t.id = strings("features/id");
    t.name = strings("features/name");
    t.feature_type = strings("features/feature_type");
    if (kind_of(c, f, child(impl_->group, "features/genome")) == Kind::dataset) {
      t.genome = strings("features/genome");
      if (t.genome.size() != t.id.size())
        c.fail("dataset " + quoted(child(impl_->group, "features/genome")) +
               " does not have one entry per feature");
    }
  } else {
    t.id = strings("genes");
    t.name = strings("gene_names");
    t.feature_type.assign(t.id.size(), "Gene Expression");
    t.genome.assign(t.id.size(), impl_->group.substr(1));
  }
  return t;
}

template <class Scalar>
TenxData<Scalar> read_10x_h5(const std::string& path) {
  TenxH5Reader r(path);
  return TenxData<Scalar>{r.read_all<Scalar>(), r.barcodes(), r.features()};
}

// ============================================================================ AnnData reading

namespace {

/// X or a layer: sparse (csr/csc) or dense.
struct MatrixElem {
  std::string path;
  std::string encoding;  // csr_matrix, csc_matrix, array
  std::int64_t n_rows = 0, n_cols = 0;
  std::optional<Compressed> sparse;
  std::optional<Dset> dense;
};

void require_version(const Ctx& c, hid_t f, const std::string& p, const std::string& enc,
                     std::initializer_list<const char*> known) {
  if (!has_attr(c, f, p, "encoding-version"))
    c.fail(quoted(p) + ": encoding-type '" + enc + "' without an encoding-version attribute");
  const std::string v = attr_string(c, f, p, "encoding-version");
  for (const char* k : known)
    if (v == k) return;
  c.fail(quoted(p) + ": unsupported encoding-version '" + v + "' of encoding-type '" + enc + "'");
}

MatrixElem open_matrix(const Ctx& c, hid_t f, const std::string& p) {
  MatrixElem m;
  m.path = p;
  const Kind k = kind_of(c, f, p);
  if (k == Kind::none) c.fail(quoted(p) + " not found");
  if (k == Kind::group) {
    std::vector<std::int64_t> shape;
    if (has_attr(c, f, p, "encoding-type")) {
      m.encoding = attr_string(c, f, p, "encoding-type");
      if (m.encoding != "csr_matrix" && m.encoding != "csc_matrix")
        c.fail("group " + quoted(p) + ": encoding-type is '" + m.encoding +
               "', expected csr_matrix or csc_matrix");
      require_version(c, f, p, m.encoding, {"0.1.0"});
      shape = attr_ints(c, f, p, "shape");
    } else if (has_attr(c, f, p, "h5sparse_format")) {  // anndata < 0.7
      const std::string fmt = attr_string(c, f, p, "h5sparse_format");
      if (fmt != "csr" && fmt != "csc")
        c.fail("group " + quoted(p) + ": h5sparse_format is '" + fmt + "', expected csr or csc");
      m.encoding = fmt + "_matrix";
      shape = attr_ints(c, f, p, "h5sparse_shape");
    } else {
      c.fail("group " + quoted(p) +
             " has no encoding-type attribute (expected csr_matrix or csc_matrix)");
    }
    if (shape.size() != 2 || shape[0] < 0 || shape[1] < 0)
      c.fail(quoted(p) + ": attribute 'shape' must hold two non-negative values");
    m.n_rows = shape[0];
    m.n_cols = shape[1];
    const bool csr = m.encoding == "csr_matrix";
    m.sparse = open_compressed(c, f, p, csr ? m.n_rows : m.n_cols, csr ? m.n_cols : m.n_rows,
                               csr ? "row" : "column");
    return m;
  }
  if (k != Kind::dataset) c.fail(quoted(p) + " is neither a group nor a dataset");
  m.encoding = attr_string_or(c, f, p, "encoding-type", "array");
  if (m.encoding != "array")
    c.fail("dataset " + quoted(p) + ": encoding-type is '" + m.encoding + "', expected array");
  m.dense = open_dataset(c, f, p);
  require_rank(c, *m.dense, 2);
  require_numeric(c, *m.dense, false);
  m.n_rows = m.dense->dims[0];
  m.n_cols = m.dense->dims[1];
  if (m.n_cols > std::numeric_limits<std::int32_t>::max())
    c.fail(quoted(p) + ": too many columns");
  return m;
}

template <class S>
CsrMatrix<S> read_matrix_rows(const Ctx& c, const MatrixElem& m, std::int64_t b, std::int64_t e) {
  check_range(b, e, m.n_rows, "read rows of " + m.path);
  if (m.encoding == "csr_matrix") return read_compressed<S>(c, *m.sparse, b, e, "row");
  if (m.encoding == "csc_matrix") {
    // Column-compressed: rows cannot be sliced on disk; read whole and transpose (documented).
    CsrMatrix<S> t = transpose(read_compressed<S>(c, *m.sparse, 0, m.n_cols, "column"));
    if (b == 0 && e == m.n_rows) return t;
    CsrMatrix<S> out;
    out.n_rows = e - b;
    out.n_cols = m.n_cols;
    out.first_row = b;
    const std::int64_t lo = t.row_begin(b), hi = t.row_begin(e);
    out.indptr.assign(t.indptr.begin() + b, t.indptr.begin() + e + 1);
    for (auto& v : out.indptr) v -= lo;
    out.indices.assign(t.indices.begin() + lo, t.indices.begin() + hi);
    out.data.assign(t.data.begin() + lo, t.data.begin() + hi);
    return out;
  }
  // Dense: rows by hyperslab, sparsified (exact zeros dropped).
  CsrMatrix<S> out;
  out.n_rows = e - b;
  out.n_cols = m.n_cols;
  out.first_row = b;
  const std::vector<S> v = read_rows_of<S>(c, *m.dense, b, e - b);
  out.indptr.assign(static_cast<std::size_t>(e - b) + 1, 0);
  for (std::int64_t r = 0; r < e - b; ++r) {
    for (std::int64_t col = 0; col < m.n_cols; ++col) {
      const S x = v[static_cast<std::size_t>(r * m.n_cols + col)];
      if (x != S(0)) {
        out.indices.push_back(static_cast<std::int32_t>(col));
        out.data.push_back(x);
      }
    }
    out.indptr[static_cast<std::size_t>(r) + 1] = static_cast<std::int64_t>(out.data.size());
  }
  return out;
}

/// One dataframe column at path p with n rows.
Column read_column(const Ctx& c, hid_t f, const std::string& p, const std::string& name,
                   std::int64_t n) {
  Column col;
  col.name = name;
  const Kind k = kind_of(c, f, p);
  if (k == Kind::none) c.fail("column " + quoted(p) + " listed in column-order is missing");
  auto check_len = [&](const Dset& d) {
    require_rank(c, d, 1);
    if (d.length() != n)
      c.fail(d.what() + " has " + std::to_string(d.length()) + " entries, expected " +
             std::to_string(n) + " (the index length)");
  };
  if (k == Kind::dataset) {
    if (has_attr(c, f, p, "categories"))
      c.fail("dataset " + quoted(p) +
             ": legacy categorical (anndata < 0.7) is not supported; re-save with anndata >= 0.8");
    Dset d = open_dataset(c, f, p);
    check_len(d);
    const std::string enc = attr_string_or(c, f, p, "encoding-type", "");
    if (!enc.empty() && enc != "array" && enc != "string-array")
      c.fail("dataset " + quoted(p) + ": encoding-type is '" + enc +
             "', expected array or string-array");
    if (!enc.empty()) require_version(c, f, p, enc, {"0.2.0"});
    if (d.cls == H5T_STRING) {
      col.kind = Column::Kind::string;
      col.strings = read_string_rows(c, d, 0, n);
    } else if (enc == "string-array") {
      c.fail(d.what() + ": encoding-type string-array but holds " + class_name(d.cls) + " values");
    } else if (d.cls == H5T_ENUM) {
      col.kind = Column::Kind::boolean;
      col.integer = read_bool_rows(c, d, 0, n);
    } else if (d.cls == H5T_INTEGER) {
      col.kind = Column::Kind::integer;
      col.integer = read_rows_of<std::int64_t>(c, d, 0, n, true);
    } else {
      col.kind = Column::Kind::real;
      col.real = read_rows_of<double>(c, d, 0, n);
    }
    return col;
  }
  if (k != Kind::group) c.fail(quoted(p) + " is neither a group nor a dataset");
  if (!has_attr(c, f, p, "encoding-type"))
    c.fail("group " + quoted(p) + " has no encoding-type attribute");
  const std::string enc = attr_string(c, f, p, "encoding-type");
  if (enc == "categorical") {
    require_version(c, f, p, enc, {"0.2.0"});
    col.kind = Column::Kind::categorical;
    Dset codes = open_dataset(c, f, child(p, "codes"));
    check_len(codes);
    col.integer = read_rows_of<std::int64_t>(c, codes, 0, n, true);
    Dset cats = open_dataset(c, f, child(p, "categories"));
    col.categories = read_text_all(c, cats);
    col.ordered = has_attr(c, f, p, "ordered") ? attr_bool(c, f, p, "ordered") : false;
    const auto n_cat = static_cast<std::int64_t>(col.categories.size());
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t v = col.integer[static_cast<std::size_t>(i)];
      if (v < -1 || v >= n_cat)
        c.fail(codes.what() + ": code " + std::to_string(v) + " at row " + std::to_string(i) +
               " is outside [-1, " + std::to_string(n_cat) + ") (" + std::to_string(n_cat) +
               " categories)");
    }
    return col;
  }
  if (enc == "nullable-integer" || enc == "nullable-boolean") {
    require_version(c, f, p, enc, {"0.1.0"});
    // Stored as real with NaN for masked entries (no NA in int64).
    col.kind = Column::Kind::real;
    Dset values = open_dataset(c, f, child(p, "values"));
    check_len(values);
    if (enc == "nullable-boolean") {
      const auto b = read_bool_rows(c, values, 0, n);
      col.real.assign(b.begin(), b.end());
    } else {
      col.real = read_rows_of<double>(c, values, 0, n);
    }
    if (kind_of(c, f, child(p, "mask")) == Kind::dataset) {
      Dset mask = open_dataset(c, f, child(p, "mask"));
      check_len(mask);
      const auto mk = read_bool_rows(c, mask, 0, n);
      for (std::size_t i = 0; i < mk.size(); ++i)
        if (mk[i]) col.real[i] = std::numeric_limits<double>::quiet_NaN();
    }
    return col;
  }
  if (enc == "nullable-string-array") {  // anndata >= 0.11 (pandas StringDtype)
    require_version(c, f, p, enc, {"0.1.0"});
    col.kind = Column::Kind::string;
    Dset values = open_dataset(c, f, child(p, "values"));
    check_len(values);
    col.strings = read_string_rows(c, values, 0, n);
    if (kind_of(c, f, child(p, "mask")) == Kind::dataset) {  // NA: empty string
      Dset mask = open_dataset(c, f, child(p, "mask"));
      check_len(mask);
      const auto mk = read_bool_rows(c, mask, 0, n);
      for (std::size_t i = 0; i < mk.size(); ++i)
        if (mk[i]) col.strings[i].clear();
    }
    return col;
  }
  c.fail("group " + quoted(p) + ": unsupported column encoding-type '" + enc + "'");
}

DataFrame read_dataframe(const Ctx& c, hid_t f, const std::string& p, std::int64_t n_expected) {
  const Kind k = kind_of(c, f, p);
  if (k == Kind::none) c.fail("dataframe " + quoted(p) + " not found");
  if (k != Kind::group)
    c.fail(quoted(p) + " is a dataset: legacy (anndata < 0.7) dataframes are not supported");
  if (!has_attr(c, f, p, "encoding-type"))
    c.fail("group " + quoted(p) + " has no encoding-type attribute (expected dataframe)");
  const std::string enc = attr_string(c, f, p, "encoding-type");
  if (enc != "dataframe")
    c.fail("group " + quoted(p) + ": encoding-type is '" + enc + "', expected dataframe");
  require_version(c, f, p, enc, {"0.1.0", "0.2.0"});
  DataFrame df;
  df.index_name = attr_string(c, f, p, "_index");
  const std::vector<std::string> order = attr_strings(c, f, p, "column-order");
  auto valid_name = [](const std::string& n) {
    return !n.empty() && n.find('/') == std::string::npos && n != "." && n != "..";
  };
  if (!valid_name(df.index_name))
    c.fail(quoted(p) + ": attribute '_index' is '" + df.index_name + "', not a member name");
  for (const auto& name : order)
    if (!valid_name(name))
      c.fail(quoted(p) + ": attribute 'column-order' lists '" + name + "', not a member name");
  Dset idx = open_dataset(c, f, child(p, df.index_name));
  df.index = read_text_all(c, idx);
  const auto n = static_cast<std::int64_t>(df.index.size());
  if (n_expected >= 0 && n != n_expected)
    c.fail(idx.what() + " has " + std::to_string(n) + " entries but X has " +
           std::to_string(n_expected) + " " + (p == "/obs" ? "rows" : "columns"));
  for (const auto& name : order) df.columns.push_back(read_column(c, f, child(p, name), name, n));
  return df;
}

/// Length of a dataframe's index without reading it (-1 if there is no dataframe).
std::int64_t dataframe_rows(const Ctx& c, hid_t f, const std::string& p) {
  if (kind_of(c, f, p) != Kind::group || !has_attr(c, f, p, "_index")) return -1;
  const std::string name = attr_string(c, f, p, "_index");
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    c.fail(quoted(p) + ": attribute '_index' is '" + name + "', not a member name");
  Dset idx = open_dataset(c, f, child(p, name));
  require_rank(c, idx, 1);
  return idx.length();
}

}  // namespace

struct H5adReader::Impl {
  Ctx c;
  Handle file;
  std::int64_t n_obs = 0, n_vars = 0;
  std::optional<MatrixElem> X;
  std::string none;
};

H5adReader::H5adReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.c.file = path;
  s.file = open_file(s.c);
  const hid_t f = s.file.get();
  if (has_attr(s.c, f, "/", "encoding-type")) {
    const std::string enc = attr_string(s.c, f, "/", "encoding-type");
    if (enc != "anndata")
      s.c.fail("root group: encoding-type is '" + enc + "', expected anndata");
  }
  const std::int64_t obs_rows = dataframe_rows(s.c, f, "/obs");
  const std::int64_t var_rows = dataframe_rows(s.c, f, "/var");
  if (kind_of(s.c, f, "/X") != Kind::none) {
    s.X = open_matrix(s.c, f, "/X");
    s.n_obs = s.X->n_rows;
    s.n_vars = s.X->n_cols;
    if (obs_rows >= 0 && obs_rows != s.n_obs)
      s.c.fail("obs has " + std::to_string(obs_rows) + " rows but X has " +
               std::to_string(s.n_obs) + " (shape mismatch)");
    if (var_rows >= 0 && var_rows != s.n_vars)
      s.c.fail("var has " + std::to_string(var_rows) + " rows but X has " +
               std::to_string(s.n_vars) + " columns (shape mismatch)");
  } else {
    if (obs_rows < 0 || var_rows < 0)
      s.c.fail("not an AnnData file: no X and no obs/var dataframes");
    s.n_obs = obs_rows;
    s.n_vars = var_rows;
  }
}

H5adReader::~H5adReader() = default;
H5adReader::H5adReader(H5adReader&&) noexcept = default;
H5adReader& H5adReader::operator=(H5adReader&&) noexcept = default;

const std::string& H5adReader::path() const { return impl_->c.file; }
std::int64_t H5adReader::n_obs() const { return impl_->n_obs; }
std::int64_t H5adReader::n_vars() const { return impl_->n_vars; }
bool H5adReader::has_X() const { return impl_->X.has_value(); }
const std::string& H5adReader::X_encoding() const {
  return impl_->X ? impl_->X->encoding : impl_->none;
}

template <class Scalar>
CsrMatrix<Scalar> H5adReader::read_X_rows(std::int64_t begin, std::int64_t end) const {
  if (!impl_->X) impl_->c.fail("'/X' not found");
  return read_matrix_rows<Scalar>(impl_->c, *impl_->X, begin, end);
}

std::vector<std::string> H5adReader::layer_names() const {
  return children(impl_->c, impl_->file.get(), "/layers");
}

template <class Scalar>
CsrMatrix<Scalar> H5adReader::read_layer_rows(const std::string& layer, std::int64_t begin,
                                              std::int64_t end) const {
  const MatrixElem m = open_matrix(impl_->c, impl_->file.get(), child("/layers", layer));
  if (m.n_rows != n_obs() || m.n_cols != n_vars())
    impl_->c.fail("layer " + quoted(m.path) + " is " + std::to_string(m.n_rows) + " x " +
                  std::to_string(m.n_cols) + " but X is " + std::to_string(n_obs()) + " x " +
                  std::to_string(n_vars()));
  return read_matrix_rows<Scalar>(impl_->c, m, begin, end);
}

DataFrame H5adReader::obs() const {
  return read_dataframe(impl_->c, impl_->file.get(), "/obs", n_obs());
}
DataFrame H5adReader::var() const {
  return read_dataframe(impl_->c, impl_->file.get(), "/var", n_vars());
}

std::vector<std::string> H5adReader::obsm_names() const {
  return children(impl_->c, impl_->file.get(), "/obsm");
}

DenseMatrix<double> H5adReader::obsm(const std::string& name, std::int64_t begin,
                                     std::int64_t end) const {
  const Ctx& c = impl_->c;
  const std::string p = child("/obsm", name);
  const Kind k = kind_of(c, impl_->file.get(), p);
  if (k == Kind::none) c.fail("obsm entry " + quoted(p) + " not found");
  if (k != Kind::dataset) c.fail("obsm entry " + quoted(p) + " is not a dense array");
  Dset d = open_dataset(c, impl_->file.get(), p);
  const std::string enc = attr_string_or(c, impl_->file.get(), p, "encoding-type", "array");
  if (enc != "array") c.fail(d.what() + ": encoding-type is '" + enc + "', expected array");
  if (d.dims.size() != 1 && d.dims.size() != 2)
    c.fail(d.what() + " has " + std::to_string(d.dims.size()) + " dimensions, expected 1 or 2");
  if (d.length() != n_obs())
    c.fail(d.what() + " has " + std::to_string(d.length()) + " rows but there are " +
           std::to_string(n_obs()) + " observations");
  if (end < 0) end = n_obs();
  check_range(begin, end, n_obs(), "H5adReader::obsm");
  DenseMatrix<double> m;
  m.n_rows = end - begin;
  m.n_cols = d.dims.size() == 2 ? d.dims[1] : 1;
  m.values = read_rows_of<double>(c, d, begin, end - begin);
  return m;
}

std::map<std::string, UnsValue> H5adReader::uns_scalars() const {
  const Ctx& c = impl_->c;
  const hid_t f = impl_->file.get();
  std::map<std::string, UnsValue> out;
  for (const auto& name : children(c, f, "/uns")) {
    const std::string p = child("/uns", name);
    if (kind_of(c, f, p) != Kind::dataset) continue;
    Dset d = open_dataset(c, f, p);
    if (!d.dims.empty()) continue;  // arrays are not scalars
    if (d.cls == H5T_STRING) {
      Handle mem = c.check(H5Screate(H5S_SCALAR), H5Sclose, d.what() + ": cannot create space");
      out[name] = UnsValue(read_strings(c, d.what(), d.type.get(), mem.get(), 1,
                                        [&](hid_t mt, void* buf) {
                                          return H5Dread(d.id.get(), mt, H5S_ALL, H5S_ALL,
                                                         H5P_DEFAULT, buf);
                                        })
                               .front());
    } else if (d.cls == H5T_INTEGER) {
      out[name] = UnsValue(read_all_of<std::int64_t>(c, d, true).front());
    } else if (d.cls == H5T_FLOAT) {
      out[name] = UnsValue(read_all_of<double>(c, d).front());
    }
  }
  return out;
}

template <class Scalar>
AnnData<Scalar> read_h5ad(const std::string& path) {
  H5adReader r(path);
  AnnData<Scalar> a;
  if (r.has_X()) {
    a.X = r.read_X<Scalar>();
  } else {
    a.X.n_rows = r.n_obs();
    a.X.n_cols = r.n_vars();
    a.X.indptr.assign(static_cast<std::size_t>(r.n_obs()) + 1, 0);
  }
  a.obs = r.obs();
  a.var = r.var();
  for (const auto& name : r.obsm_names()) a.obsm[name] = r.obsm(name);
  for (const auto& name : r.layer_names())
    a.layers[name] = r.read_layer_rows<Scalar>(name, 0, r.n_obs());
  a.uns = r.uns_scalars();
  return a;
}

// ============================================================================ Column / DataFrame

std::size_t Column::size() const {
  switch (kind) {
    case Kind::real: return real.size();
    case Kind::string: return strings.size();
    default: return integer.size();
  }
}

Column Column::make_real(std::string name, std::vector<double> v) {
  Column c;
  c.name = std::move(name);
  c.kind = Kind::real;
  c.real = std::move(v);
  return c;
}
Column Column::make_integer(std::string name, std::vector<std::int64_t> v) {
  Column c;
  c.name = std::move(name);
  c.kind = Kind::integer;
  c.integer = std::move(v);
  return c;
}
Column Column::make_boolean(std::string name, std::vector<std::int64_t> v01) {
  Column c;
  c.name = std::move(name);
  c.kind = Kind::boolean;
  c.integer = std::move(v01);
  return c;
}
Column Column::make_string(std::string name, std::vector<std::string> v) {
  Column c;
  c.name = std::move(name);
  c.kind = Kind::string;
  c.strings = std::move(v);
  return c;
}
Column Column::make_categorical(std::string name, std::vector<std::int64_t> codes,
                                std::vector<std::string> categories, bool ordered) {
  Column c;
  c.name = std::move(name);
  c.kind = Kind::categorical;
  c.integer = std::move(codes);
  c.categories = std::move(categories);
  c.ordered = ordered;
  return c;
}

const Column* DataFrame::find(const std::string& name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

// ============================================================================ AnnData writing

namespace {

Handle string_type(const Ctx& c) {
  Handle t = c.check(H5Tcopy(H5T_C_S1), H5Tclose, "cannot create string type");
  if (H5Tset_size(t.get(), H5T_VARIABLE) < 0 || H5Tset_cset(t.get(), H5T_CSET_UTF8) < 0)
    c.fail_h5("cannot create string type");
  return t;
}

/// h5py's boolean: enum {FALSE = 0, TRUE = 1} over int8.
Handle bool_type(const Ctx& c) {
  Handle t = c.check(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose, "cannot create boolean type");
  std::int8_t v = 0;
  H5Tenum_insert(t.get(), "FALSE", &v);
  v = 1;
  H5Tenum_insert(t.get(), "TRUE", &v);
  return t;
}

void write_attr_raw(const Ctx& c, hid_t f, const std::string& obj, const std::string& name,
                    hid_t ftype, hid_t mtype, const void* data, const hsize_t* n /*null: scalar*/) {
  const std::string what = quoted(obj) + ": attribute " + quoted(name);
  if (H5Aexists_by_name(f, obj.c_str(), name.c_str(), H5P_DEFAULT) > 0)
    H5Adelete_by_name(f, obj.c_str(), name.c_str(), H5P_DEFAULT);
  Handle space = c.check(n ? H5Screate_simple(1, n, nullptr) : H5Screate(H5S_SCALAR), H5Sclose,
                         what + ": cannot create dataspace");
  Handle a = c.check(H5Acreate_by_name(f, obj.c_str(), name.c_str(), ftype, space.get(),
                                       H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose, what + ": cannot create");
  if ((!n || *n > 0) && H5Awrite(a.get(), mtype, data) < 0) c.fail_h5(what + ": cannot write");
}

void attr_write(const Ctx& c, hid_t f, const std::string& obj, const std::string& name,
                const std::string& value) {
  Handle t = string_type(c);
  const char* s = value.c_str();
  write_attr_raw(c, f, obj, name, t.get(), t.get(), &s, nullptr);
}

void attr_write(const Ctx& c, hid_t f, const std::string& obj, const std::string& name,
                const std::vector<std::string>& values) {
  Handle t = string_type(c);
  std::vector<const char*> ptrs;
  for (const auto& s : values) ptrs.push_back(s.c_str());
  const hsize_t n = values.size();
  write_attr_raw(c, f, obj, name, t.get(), t.get(), ptrs.data(), &n);
}

void attr_write(const Ctx& c, hid_t f, const std::string& obj, const std::string& name,
                const std::vector<std::int64_t>& values) {
  const hsize_t n = values.size();
  write_attr_raw(c, f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, values.data(), &n);
}

void attr_write_bool(const Ctx& c, hid_t f, const std::string& obj, const std::string& name,
                     bool value) {
  Handle t = bool_type(c);
  const std::int8_t v = value ? 1 : 0;
  write_attr_raw(c, f, obj, name, t.get(), t.get(), &v, nullptr);
}

void encoding(const Ctx& c, hid_t f, const std::string& obj, const std::string& type,
              const std::string& version) {
  attr_write(c, f, obj, "encoding-type", type);
  attr_write(c, f, obj, "encoding-version", version);
}

void make_group(const Ctx& c, hid_t f, const std::string& p) {
  c.check(H5Gcreate2(f, p.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
          "group " + quoted(p) + ": cannot create");
}

void check_name(const std::string& name, const std::string& what) {
  DIFFBIO_EXPECTS(!name.empty() && name.find('/') == std::string::npos && name != "." &&
                      name != "..",
                  what + " name '" + name + "' cannot be an HDF5 link name");
}

/// Writes a dataset of \p n_dims dims (empty dims: scalar) from \p data in memory type mtype.
void write_dset(const Ctx& c, hid_t f, const std::string& p, hid_t ftype, hid_t mtype,
                const void* data, const std::vector<hsize_t>& dims) {
  Handle space = c.check(dims.empty() ? H5Screate(H5S_SCALAR)
                                      : H5Screate_simple(static_cast<int>(dims.size()),
                                                         dims.data(), nullptr),
                         H5Sclose, "dataset " + quoted(p) + ": cannot create dataspace");
  Handle d = c.check(H5Dcreate2(f, p.c_str(), ftype, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                H5P_DEFAULT),
                     H5Dclose, "dataset " + quoted(p) + ": cannot create");
  hsize_t n = 1;
  for (hsize_t x : dims) n *= x;
  if (n > 0 && H5Dwrite(d.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    c.fail_h5("dataset " + quoted(p) + ": cannot write");
}

void write_strings(const Ctx& c, hid_t f, const std::string& p,
                   const std::vector<std::string>& v) {
  Handle t = string_type(c);
  std::vector<const char*> ptrs;
  for (const auto& s : v) ptrs.push_back(s.c_str());
  write_dset(c, f, p, t.get(), t.get(), ptrs.data(), {static_cast<hsize_t>(v.size())});
  encoding(c, f, p, "string-array", "0.2.0");
}

void write_column(const Ctx& c, hid_t f, const std::string& p, const Column& col) {
  const hsize_t n = col.size();
  switch (col.kind) {
    case Column::Kind::real:
      write_dset(c, f, p, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, col.real.data(), {n});
      encoding(c, f, p, "array", "0.2.0");
      break;
    case Column::Kind::integer:
      write_dset(c, f, p, H5T_STD_I64LE, H5T_NATIVE_INT64, col.integer.data(), {n});
      encoding(c, f, p, "array", "0.2.0");
      break;
    case Column::Kind::boolean: {
      Handle t = bool_type(c);
      std::vector<std::int8_t> b(col.integer.size());
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = col.integer[i] != 0;
      write_dset(c, f, p, t.get(), t.get(), b.data(), {n});
      encoding(c, f, p, "array", "0.2.0");
      break;
    }
    case Column::Kind::string:
      write_strings(c, f, p, col.strings);
      break;
    case Column::Kind::categorical: {
      const auto n_cat = static_cast<std::int64_t>(col.categories.size());
      for (std::int64_t v : col.integer)
        DIFFBIO_EXPECTS(v >= -1 && v < n_cat, "categorical column '" + col.name + "': code " +
                                                  std::to_string(v) + " outside [-1, " +
                                                  std::to_string(n_cat) + ")");
      make_group(c, f, p);
      // pandas' own code width: int8 up to 127 categories, then int16, int32.
      if (n_cat < 128) {
        std::vector<std::int8_t> v(col.integer.begin(), col.integer.end());
        write_dset(c, f, child(p, "codes"), H5T_STD_I8LE, H5T_NATIVE_INT8, v.data(), {n});
      } else if (n_cat < 32768) {
        std::vector<std::int16_t> v(col.integer.begin(), col.integer.end());
        write_dset(c, f, child(p, "codes"), H5T_STD_I16LE, H5T_NATIVE_INT16, v.data(), {n});
      } else {
        std::vector<std::int32_t> v(col.integer.begin(), col.integer.end());
        write_dset(c, f, child(p, "codes"), H5T_STD_I32LE, H5T_NATIVE_INT32, v.data(), {n});
      }
      encoding(c, f, child(p, "codes"), "array", "0.2.0");
      write_strings(c, f, child(p, "categories"), col.categories);
      encoding(c, f, p, "categorical", "0.2.0");
      attr_write_bool(c, f, p, "ordered", col.ordered);
      break;
    }
  }
}

void write_dataframe(const Ctx& c, hid_t f, const std::string& p, const DataFrame& df) {
  make_group(c, f, p);
  check_name(df.index_name, "dataframe index");
  std::vector<std::string> order;
  for (const auto& col : df.columns) {
    check_name(col.name, "column");
    DIFFBIO_EXPECTS(col.name != df.index_name, "column '" + col.name + "' clashes with the index");
    DIFFBIO_EXPECTS(col.size() == df.index.size(),
                    "column '" + col.name + "' has " + std::to_string(col.size()) +
                        " rows, the index " + std::to_string(df.index.size()));
    order.push_back(col.name);
  }
  encoding(c, f, p, "dataframe", "0.2.0");
  attr_write(c, f, p, "_index", df.index_name);
  attr_write(c, f, p, "column-order", order);
  write_strings(c, f, child(p, df.index_name), df.index);
  for (const auto& col : df.columns) write_column(c, f, child(p, col.name), col);
}

template <class S>
hid_t file_float_type() {
  return std::is_same<S, float>::value ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
}

/// A whole CSR matrix as a csr_matrix group (layers).
template <class S>
void write_csr_group(const Ctx& c, hid_t f, const std::string& p, const CsrMatrix<S>& m) {
  const std::string problem = m.check();
  DIFFBIO_EXPECTS(problem.empty(), "CSR matrix for '" + p + "': " + problem);
  make_group(c, f, p);
  const hsize_t nnz = m.data.size();
  write_dset(c, f, child(p, "data"), file_float_type<S>(), native_type<S>(), m.data.data(), {nnz});
  write_dset(c, f, child(p, "indices"), H5T_STD_I32LE, H5T_NATIVE_INT32, m.indices.data(), {nnz});
  write_dset(c, f, child(p, "indptr"), H5T_STD_I64LE, H5T_NATIVE_INT64, m.indptr.data(),
             {static_cast<hsize_t>(m.indptr.size())});
  encoding(c, f, p, "csr_matrix", "0.1.0");
  attr_write(c, f, p, "shape", std::vector<std::int64_t>{m.n_rows, m.n_cols});
}

Handle create_extendable(const Ctx& c, hid_t f, const std::string& p, hid_t ftype) {
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = 1 << 16;
  Handle space = c.check(H5Screate_simple(1, &zero, &unlimited), H5Sclose,
                         "dataset " + quoted(p) + ": cannot create dataspace");
  Handle dcpl = c.check(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "cannot create properties");
  if (H5Pset_chunk(dcpl.get(), 1, &chunk) < 0) c.fail_h5("dataset " + quoted(p) + ": cannot chunk");
  return c.check(H5Dcreate2(f, p.c_str(), ftype, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                 H5Dclose, "dataset " + quoted(p) + ": cannot create");
}

void append(const Ctx& c, hid_t dset, const std::string& p, hid_t mtype, const void* data,
            hsize_t old_n, hsize_t n) {
  if (n == 0) return;
  const hsize_t total = old_n + n;
  if (H5Dset_extent(dset, &total) < 0) c.fail_h5("dataset " + quoted(p) + ": cannot extend");
  Handle fs = c.check(H5Dget_space(dset), H5Sclose, "dataset " + quoted(p) + ": cannot get space");
  if (H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, &old_n, nullptr, &n, nullptr) < 0)
    c.fail_h5("dataset " + quoted(p) + ": cannot select");
  Handle ms = c.check(H5Screate_simple(1, &n, nullptr), H5Sclose, "cannot create memory space");
  if (H5Dwrite(dset, mtype, ms.get(), fs.get(), H5P_DEFAULT, data) < 0)
    c.fail_h5("dataset " + quoted(p) + ": cannot write");
}

std::vector<std::string> range_index(std::int64_t n) {
  std::vector<std::string> v;
  v.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v.push_back(std::to_string(i));
  return v;
}

}  // namespace

struct H5adWriter::Impl {
  Ctx c;
  std::optional<AtomicOutput> atomic;  // destroyed last: deletes an uncommitted temporary
  Handle file;
  Handle x_data, x_indices;
  bool x_double = false, x_created = false, committed = false;
  std::int64_t n_vars = 0;
  std::vector<std::int64_t> indptr{0};
  std::optional<DataFrame> obs, var;
  std::vector<std::pair<std::string, std::int64_t>> obsm_rows;
  std::vector<std::string> names;  // obsm/layers/uns names, to refuse duplicates

  hid_t f() const { return file.get(); }
  void create_x(bool as_double) {
    x_double = as_double;
    const hid_t ft = as_double ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
    x_data = create_extendable(c, f(), "/X/data", ft);
    x_indices = create_extendable(c, f(), "/X/indices", H5T_STD_I32LE);
    x_created = true;
  }
  void add_name(const std::string& group, const std::string& name) {
    check_name(name, group + " entry");
    const std::string full = group + "/" + name;
    DIFFBIO_EXPECTS(std::find(names.begin(), names.end(), full) == names.end(),
                    "H5adWriter: " + full + " added twice");
    names.push_back(full);
  }
};

H5adWriter::H5adWriter(const std::string& path, std::int64_t n_vars)
    : impl_(std::make_unique<Impl>()) {
  DIFFBIO_EXPECTS(n_vars >= 0 && n_vars <= std::numeric_limits<std::int32_t>::max(),
                  "H5adWriter: n_vars out of range");
  Impl& s = *impl_;
  silence_hdf5();
  s.c.file = path;
  s.c.writing = true;
  s.n_vars = n_vars;
  s.atomic.emplace(path);
  Handle fapl = s.c.check(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot create properties");
  H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
  const std::string temp = s.atomic->temp_path().string();
  s.file = s.c.check(H5Fcreate(temp.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()), H5Fclose,
                     "cannot create temporary HDF5 file '" + temp + "'");
  encoding(s.c, s.f(), "/", "anndata", "0.1.0");
  make_group(s.c, s.f(), "/X");
  for (const char* g : {"/obsm", "/varm", "/obsp", "/varp", "/layers", "/uns"}) {
    make_group(s.c, s.f(), g);
    encoding(s.c, s.f(), g, "dict", "0.1.0");
  }
}

H5adWriter::~H5adWriter() {
  if (impl_) {
    // Close every handle before the AtomicOutput deletes the temporary file.
    impl_->x_data.reset();
    impl_->x_indices.reset();
    impl_->file.reset();
  }
}
H5adWriter::H5adWriter(H5adWriter&&) noexcept = default;
H5adWriter& H5adWriter::operator=(H5adWriter&&) noexcept = default;

std::int64_t H5adWriter::n_obs() const {
  return static_cast<std::int64_t>(impl_->indptr.size()) - 1;
}

template <class Scalar>
void H5adWriter::append_X_rows(const CsrMatrix<Scalar>& block) {
  Impl& s = *impl_;
  DIFFBIO_EXPECTS(!s.committed && s.file.get() >= 0, "H5adWriter used after commit()");
  DIFFBIO_EXPECTS(block.n_cols == s.n_vars, "H5adWriter::append_X_rows: block has " +
                                                std::to_string(block.n_cols) + " columns, X has " +
                                                std::to_string(s.n_vars));
  const std::string problem = block.check();
  DIFFBIO_EXPECTS(problem.empty(), "H5adWriter::append_X_rows: " + problem);
  if (!s.x_created) s.create_x(std::is_same<Scalar, double>::value);
  const hsize_t old_n = static_cast<hsize_t>(s.indptr.back());
  const hsize_t n = block.data.size();
  if (s.x_double == std::is_same<Scalar, double>::value) {
    append(s.c, s.x_data.get(), "/X/data", native_type<Scalar>(), block.data.data(), old_n, n);
  } else if (s.x_double) {
    std::vector<double> v(block.data.begin(), block.data.end());
    append(s.c, s.x_data.get(), "/X/data", H5T_NATIVE_DOUBLE, v.data(), old_n, n);
  } else {
    std::vector<float> v(block.data.begin(), block.data.end());
    append(s.c, s.x_data.get(), "/X/data", H5T_NATIVE_FLOAT, v.data(), old_n, n);
  }
  append(s.c, s.x_indices.get(), "/X/indices", H5T_NATIVE_INT32, block.indices.data(), old_n, n);
  const std::int64_t base = s.indptr.back();
  for (std::int64_t r = 1; r <= block.n_rows; ++r)
    s.indptr.push_back(base + block.indptr[static_cast<std::size_t>(r)]);
}

void H5adWriter::set_obs(const DataFrame& obs) { impl_->obs = obs; }
void H5adWriter::set_var(const DataFrame& var) { impl_->var = var; }

template <class Scalar>
void H5adWriter::add_obsm(const std::string& name, const DenseMatrix<Scalar>& m) {
  Impl& s = *impl_;
  s.add_name("obsm", name);
  DIFFBIO_EXPECTS(static_cast<std::int64_t>(m.values.size()) == m.n_rows * m.n_cols,
                  "obsm '" + name + "': values do not match its shape");
  const std::string p = child("/obsm", name);
  write_dset(s.c, s.f(), p, file_float_type<Scalar>(), native_type<Scalar>(), m.values.data(),
             {static_cast<hsize_t>(m.n_rows), static_cast<hsize_t>(m.n_cols)});
  encoding(s.c, s.f(), p, "array", "0.2.0");
  s.obsm_rows.emplace_back(name, m.n_rows);
}

template <class Scalar>
void H5adWriter::add_layer(const std::string& name, const CsrMatrix<Scalar>& m) {
  Impl& s = *impl_;
  s.add_name("layers", name);
  DIFFBIO_EXPECTS(m.n_cols == s.n_vars, "layer '" + name + "': wrong number of columns");
  write_csr_group(s.c, s.f(), child("/layers", name), m);
  s.obsm_rows.emplace_back("layers/" + name, m.n_rows);
}

void H5adWriter::add_uns(const std::string& name, const UnsValue& value) {
  Impl& s = *impl_;
  s.add_name("uns", name);
  const std::string p = child("/uns", name);
  switch (value.kind) {
    case UnsValue::Kind::real:
      write_dset(s.c, s.f(), p, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value.real, {});
      encoding(s.c, s.f(), p, "numeric-scalar", "0.2.0");
      break;
    case UnsValue::Kind::integer:
      write_dset(s.c, s.f(), p, H5T_STD_I64LE, H5T_NATIVE_INT64, &value.integer, {});
      encoding(s.c, s.f(), p, "numeric-scalar", "0.2.0");
      break;
    case UnsValue::Kind::string: {
      Handle t = string_type(s.c);
      const char* str = value.text.c_str();
      write_dset(s.c, s.f(), p, t.get(), t.get(), &str, {});
      encoding(s.c, s.f(), p, "string", "0.2.0");
      break;
    }
  }
}

void H5adWriter::commit() {
  Impl& s = *impl_;
  DIFFBIO_EXPECTS(!s.committed && s.file.get() >= 0, "H5adWriter::commit() called twice");
  const std::int64_t n = n_obs();
  for (const auto& e : s.obsm_rows)
    DIFFBIO_EXPECTS(e.second == n, "H5adWriter: '" + e.first + "' has " +
                                       std::to_string(e.second) + " rows, X has " +
                                       std::to_string(n));
  if (!s.x_created) s.create_x(false);
  write_dset(s.c, s.f(), "/X/indptr", H5T_STD_I64LE, H5T_NATIVE_INT64, s.indptr.data(),
             {static_cast<hsize_t>(s.indptr.size())});
  encoding(s.c, s.f(), "/X", "csr_matrix", "0.1.0");
  attr_write(s.c, s.f(), "/X", "shape", std::vector<std::int64_t>{n, s.n_vars});
  DataFrame obs = s.obs ? *s.obs : DataFrame{};
  if (!s.obs) obs.index = range_index(n);
  DataFrame var = s.var ? *s.var : DataFrame{};
  if (!s.var) var.index = range_index(s.n_vars);
  DIFFBIO_EXPECTS(static_cast<std::int64_t>(obs.index.size()) == n,
                  "H5adWriter: obs has " + std::to_string(obs.index.size()) + " rows, X has " +
                      std::to_string(n));
  DIFFBIO_EXPECTS(static_cast<std::int64_t>(var.index.size()) == s.n_vars,
                  "H5adWriter: var has " + std::to_string(var.index.size()) + " rows, X has " +
                      std::to_string(s.n_vars) + " columns");
  write_dataframe(s.c, s.f(), "/obs", obs);
  write_dataframe(s.c, s.f(), "/var", var);
  s.x_data.reset();
  s.x_indices.reset();
  // Closing writes the metadata; a full disk surfaces here. On failure nothing is committed
  // (the AtomicOutput deletes the temporary file).
  if (H5Fclose(s.file.release()) < 0) s.c.fail_h5("cannot write HDF5 file");
  s.atomic->commit();
  s.committed = true;
}

template <class Scalar>
void write_h5ad(const std::string& path, const AnnData<Scalar>& a) {
  H5adWriter w(path, a.X.n_cols);
  w.append_X_rows(a.X);
  // An untouched DataFrame (no index, no columns) means "default index", as in anndata.
  if (!a.obs.index.empty() || !a.obs.columns.empty()) w.set_obs(a.obs);
  if (!a.var.index.empty() || !a.var.columns.empty()) w.set_var(a.var);
  for (const auto& [name, m] : a.obsm) w.add_obsm(name, m);
  for (const auto& [name, m] : a.layers) w.add_layer(name, m);
  for (const auto& [name, v] : a.uns) w.add_uns(name, v);
  w.commit();
}

// ============================================================================ instantiations

#define DIFFBIO_SINGLECELL_INSTANTIATE(S)                                                         \
  template CsrMatrix<S> TenxH5Reader::read_rows<S>(std::int64_t, std::int64_t) const;             \
  template TenxData<S> read_10x_h5<S>(const std::string&);                                        \
  template CsrMatrix<S> H5adReader::read_X_rows<S>(std::int64_t, std::int64_t) const;             \
  template CsrMatrix<S> H5adReader::read_layer_rows<S>(const std::string&, std::int64_t,          \
                                                       std::int64_t) const;                       \
  template AnnData<S> read_h5ad<S>(const std::string&);                                           \
  template void H5adWriter::append_X_rows<S>(const CsrMatrix<S>&);                                \
  template void H5adWriter::add_obsm<S>(const std::string&, const DenseMatrix<S>&);               \
  template void H5adWriter::add_layer<S>(const std::string&, const CsrMatrix<S>&);                \
  template void write_h5ad<S>(const std::string&, const AnnData<S>&);

DIFFBIO_SINGLECELL_INSTANTIATE(float)
DIFFBIO_SINGLECELL_INSTANTIATE(double)
#undef DIFFBIO_SINGLECELL_INSTANTIATE

}  // namespace diffbio::io

#endif  // DIFFBIO_ENABLE_HDF5

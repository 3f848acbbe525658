// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_HDF5.hpp
/// \brief Minimal RAII wrapper over the HDF5 C API for parameters, checkpoints and results.
///
/// Only what DiffBio needs: n-dimensional double/float/int64 and variable-length string datasets,
/// scalar attributes, and groups created on demand from slash paths ("/params/theta").
/// Design choices:
///  - Files are written atomically: H5File::create() writes to an AtomicOutput temporary that
///    close_and_commit() renames onto the target; a file abandoned (exception, early return)
///    leaves nothing behind.
///  - Every HDF5 failure becomes one diffbio::Error line naming the file and the object:
///    ExitCode::input_error for files opened with open_read(), ExitCode::output_error for files
///    being created. HDF5's own automatic error-stack printing to stderr is switched off
///    process-wide (H5Eset_auto2) so a bad file yields only that line.
///  - On-disk types are fixed little-endian (F64LE, F32LE, I64LE, UTF-8 strings), so files are
///    identical whatever machine wrote them.
///  - hdf5.h is not included here: it drags mpi.h into every user of a parallel HDF5 build.
/// This header is empty unless DiffBio was configured with HDF5 (DIFFBIO_ENABLE_HDF5).
/// Not thread-safe: HDF5 itself is usually built without its global lock.
#ifndef DIFFBIO_HDF5_HPP
#define DIFFBIO_HDF5_HPP

#include <DiffBio_Config.hpp>

#ifdef DIFFBIO_ENABLE_HDF5

#include <DiffBio_AtomicFile.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace diffbio::io {

/// An open HDF5 file, either being created (write-only) or opened for reading.
///
/// Object names are absolute or relative-to-root slash paths; "params/theta" and
/// "/params/theta" name the same dataset. Dataset dimensions are row-major (C order), as HDF5
/// stores them; an empty \p dims means one dimension of data.size() elements.
class H5File {
 public:
  /// Creates \p path for writing. The data goes to a temporary file next to \p path until
  /// close_and_commit(). Throws output_error if the temporary file cannot be created.
  static H5File create(const std::string& path);

  /// Opens an existing file read-only. Throws input_error(path, -1, problem): "cannot open
  /// file: ..." if it is missing or unreadable, "not an HDF5 file" if the signature is absent,
  /// and "cannot open HDF5 file (truncated or corrupt?): ..." if HDF5 rejects it.
  static H5File open_read(const std::string& path);

  H5File(H5File&& other) noexcept;
  H5File& operator=(H5File&& other) noexcept;
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;
  /// Closes the file. A created file that was not committed is deleted. Never throws.
  ~H5File();

  /// Flushes and closes a created file, then renames it onto its target path. After this the
  /// object is closed; any further call is a precondition violation.
  void close_and_commit();

  /// The target path (not the temporary one).
  const std::string& path() const noexcept { return path_; }
  bool is_open() const noexcept { return id_ >= 0; }
  bool writable() const noexcept { return writable_; }

  // ---- writing (created files only) ----------------------------------------------------------
  /// Writes a new dataset \p name (missing parent groups are created). \p dims must multiply to
  /// data.size() (precondition). Writing a name that already exists throws output_error.
  void write_dataset(const std::string& name, const std::vector<double>& data,
                     const std::vector<std::size_t>& dims = {});
  void write_dataset(const std::string& name, const std::vector<float>& data,
                     const std::vector<std::size_t>& dims = {});
  void write_dataset(const std::string& name, const std::vector<std::int64_t>& data,
                     const std::vector<std::size_t>& dims = {});
  /// Variable-length UTF-8 strings (a string is stored up to its first NUL byte).
  void write_dataset(const std::string& name, const std::vector<std::string>& data,
                     const std::vector<std::size_t>& dims = {});

  /// Writes (or replaces) a scalar attribute \p name on the group or dataset \p object;
  /// "/" is the file's root group. A missing \p object is created as a group.
  void write_attribute(const std::string& object, const std::string& name, double value);
  void write_attribute(const std::string& object, const std::string& name, std::int64_t value);
  void write_attribute(const std::string& object, const std::string& name,
                       const std::string& value);
  void write_attribute(const std::string& object, const std::string& name, const char* value) {
    write_attribute(object, name, std::string(value));
  }
  /// Any other integer type is stored as int64 (this overload also keeps `int` literals from
  /// being ambiguous between the double and int64 overloads).
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool> &&
                                          !std::is_same_v<I, std::int64_t>,
                                      int> = 0>
  void write_attribute(const std::string& object, const std::string& name, I value) {
    write_attribute(object, name, static_cast<std::int64_t>(value));
  }

  // ---- reading (any open file) ---------------------------------------------------------------
  /// True if a group or dataset \p name exists ("/" always does). A path through a dataset
  /// ("/data/x" where "/data" is a dataset) does not exist; a corrupt file throws.
  bool has(const std::string& name) const;
  /// True if \p object exists and carries an attribute \p name.
  bool has_attribute(const std::string& object, const std::string& name) const;

  /// Dimensions of dataset \p name (empty for a scalar dataset).
  std::vector<std::size_t> dataset_dims(const std::string& name) const;

  /// Reads a numeric dataset (any integer or float type, converted by HDF5) as doubles, in
  /// row-major order; its dimensions go to \p dims if given. A missing dataset or a non-numeric
  /// one throws (input_error for files opened with open_read()).
  std::vector<double> read_dataset_double(const std::string& name,
                                          std::vector<std::size_t>* dims = nullptr) const;
  /// As read_dataset_double, converting to float (values may lose precision).
  std::vector<float> read_dataset_float(const std::string& name,
                                        std::vector<std::size_t>* dims = nullptr) const;
  /// Reads an integer dataset; float datasets are rejected rather than silently truncated.
  std::vector<std::int64_t> read_dataset_int64(const std::string& name,
                                               std::vector<std::size_t>* dims = nullptr) const;
  /// Reads a string dataset (variable- or fixed-length).
  std::vector<std::string> read_dataset_string(const std::string& name,
                                               std::vector<std::size_t>* dims = nullptr) const;

  /// Reads a scalar (or one-element) numeric attribute.
  double read_attribute_double(const std::string& object, const std::string& name) const;
  /// Reads a scalar integer attribute; float attributes are rejected.
  std::int64_t read_attribute_int64(const std::string& object, const std::string& name) const;
  /// Reads a scalar string attribute (variable- or fixed-length).
  std::string read_attribute_string(const std::string& object, const std::string& name) const;

 private:
  struct Ops;  // the HDF5-typed helpers, defined in DiffBio_HDF5.cpp
  friend struct Ops;

  H5File(std::string path, bool writable) : path_(std::move(path)), writable_(writable) {}
  void close() noexcept;

  std::string path_;
  bool writable_ = false;
  std::int64_t id_ = -1;                 ///< hid_t of the open file; -1 when closed
  std::optional<AtomicOutput> atomic_;   ///< the pending output of a created file
};

}  // namespace diffbio::io

#endif  // DIFFBIO_ENABLE_HDF5
#endif

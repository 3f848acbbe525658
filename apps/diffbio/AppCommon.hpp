// SPDX-License-Identifier: BSD-3-Clause
/// \file AppCommon.hpp
/// \brief What every `diffbio` subcommand shares: option bindings (command line + TOML), the
/// command registry, and rank-0 progress lines.
///
/// A subcommand lives in its own `*Commands.cpp` and registers itself with a file-scope
/// `RegisterCommands` object, so adding a command never touches main.cpp:
///
///   void add_cnv_commands(CLI::App& app, CommandList& list) {
///     auto o = std::make_shared<CnvOptions>();
///     auto& c = new_command(list, app.add_subcommand("cnv", "..."), "cnv");
///     add(c, "bam", o->bam, "...");
///     c.run = [o](const Comm& comm) { return run_cnv(*o, comm); };
///   }
///   static RegisterCommands reg_cnv(&add_cnv_commands);
///
/// main.cpp runs the deepest parsed command (so `diffbio call train` runs "call train", not "call")
/// and applies the TOML table named by Command::table ([call], [call-train], ...).
#ifndef DIFFBIO_APP_COMMON_HPP
#define DIFFBIO_APP_COMMON_HPP

#include <DiffBio_Comm.hpp>
#include <DiffBio_Error.hpp>

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace diffbio {
namespace app {

/// Where a TOML key lands: the CLI11 option it mirrors (to see whether the command line already
/// set it) and a typed setter.
struct Binding {
  CLI::Option* option = nullptr;
  std::function<void(const toml::node&, const std::string& key)> set;
};
using Bindings = std::map<std::string, Binding>;  // key: long option name without dashes

[[noreturn]] inline void config_type_error(const std::string& key, const char* expected) {
  throw Error(ExitCode::usage, "config key '" + key + "' must be " + expected);
}

template <class T>
std::function<void(const toml::node&, const std::string&)> setter(T& target) {
  return [&target](const toml::node& node, const std::string& key) {
    if constexpr (std::is_same_v<T, bool>) {
      auto v = node.value<bool>();
      if (!node.is_boolean() || !v) config_type_error(key, "true or false");
      target = *v;
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!node.is_string()) config_type_error(key, "a string");
      target = *node.value<std::string>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!node.is_number()) config_type_error(key, "a number");
      target = static_cast<T>(*node.value<double>());
    } else {
      static_assert(std::is_integral_v<T>, "unsupported option type");
      if (!node.is_integer()) config_type_error(key, "an integer");
      const std::int64_t v = *node.value<std::int64_t>();
      if (std::is_unsigned_v<T> && v < 0) config_type_error(key, "a non-negative integer");
      target = static_cast<T>(v);
    }
  };
}

/// Adds `--name` to \p app bound to \p target and records its TOML binding.
template <class T>
CLI::Option* add(CLI::App* app, Bindings& b, const std::string& name, T& target,
                 const std::string& help) {
  CLI::Option* opt;
  if constexpr (std::is_same_v<T, bool>)
    opt = app->add_flag("--" + name, target, help);
  else
    opt = app->add_option("--" + name, target, help)->capture_default_str();
  b[name] = Binding{opt, setter(target)};
  return opt;
}

/// One subcommand: its CLI11 app, its TOML table and bindings, and what runs it. The options it
/// binds must outlive parsing: keep them in a shared_ptr captured by `run`.
struct Command {
  std::string table;  ///< TOML table name, e.g. "call-train"
  CLI::App* cli = nullptr;
  Bindings bindings;
  std::function<int(const Comm&)> run;
};
using CommandList = std::vector<std::unique_ptr<Command>>;  // stable addresses for the bindings
using CommandSetup = void (*)(CLI::App& app, CommandList& list);

inline Command& new_command(CommandList& list, CLI::App* cli, const std::string& table) {
  list.push_back(std::make_unique<Command>());
  list.back()->table = table;
  list.back()->cli = cli;
  return *list.back();
}

template <class T>
CLI::Option* add(Command& c, const std::string& name, T& target, const std::string& help) {
  return add(c.cli, c.bindings, name, target, help);
}

/// Commands registered by the *Commands.cpp files of the executable (static initialisation).
inline std::vector<CommandSetup>& command_setups() {
  static std::vector<CommandSetup> setups;
  return setups;
}
struct RegisterCommands {
  explicit RegisterCommands(CommandSetup f) { command_setups().push_back(f); }
};

/// One progress line for batch logs; printed by rank 0 and flushed so `tail -f` sees it.
inline void log_line(const Comm& comm, const std::string& line) {
  if (comm.rank() != 0) return;
  std::fprintf(stdout, "[diffbio] %s\n", line.c_str());
  std::fflush(stdout);
}

inline std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace app
}  // namespace diffbio

#endif

// SPDX-License-Identifier: MIT
// Plugin: dlopen, the check that a plugin carries no copy of localbag of its own, and the unload
// that completes or refuses (docs/plugins.md). What holds a plugin is found by usage.cpp.

#include "localbag/plugin.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <cstring>
#include <fstream>
#include <mutex>
#include <utility>

#include "localbag/detail/throw.hpp"
#include "usage.hpp"

namespace localbag {
namespace detail {
namespace {

// Whether the ELF file at `path` has a section named `.localbag_runtime`: every copy of the
// runtime has one (src/runtime.cpp), and a plugin linked with liblocalbag.so does not. False
// when the file cannot be read as a 64-bit ELF file (dlopen then says what is wrong).
bool carries_runtime(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  Elf64_Ehdr header{};
  if (!file.read(reinterpret_cast<char*>(&header), sizeof header)) return false;
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0 ||
      header.e_shstrndx >= header.e_shnum) {
    return false;
  }
  std::vector<Elf64_Shdr> sections(header.e_shnum);
  file.seekg(static_cast<std::streamoff>(header.e_shoff));
  if (!file.read(reinterpret_cast<char*>(sections.data()),
                 static_cast<std::streamsize>(sections.size() * sizeof(Elf64_Shdr)))) {
    return false;
  }
  const Elf64_Shdr& names = sections[header.e_shstrndx];
  if (names.sh_size > (std::size_t{1} << 24)) return false;
  std::string strings(names.sh_size, '\0');
  file.seekg(static_cast<std::streamoff>(names.sh_offset));
  if (!file.read(strings.data(), static_cast<std::streamsize>(strings.size()))) return false;
  constexpr std::string_view kSection = ".localbag_runtime";
  for (const Elf64_Shdr& section : sections) {
    if (section.sh_name < strings.size() &&
        std::string_view(strings.c_str() + section.sh_name) == kSection) {
      return true;
    }
  }
  return false;
}

// The loaded segments of the library `handle` names.
std::vector<AddressRange> ranges_of(void* handle) {
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr) return {};
  struct Search {
    const link_map* map;
    std::vector<AddressRange> ranges;
  } search{map, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) -> int {
        auto& s = *static_cast<Search*>(data);
        if (info->dlpi_addr != s.map->l_addr || info->dlpi_name == nullptr ||
            std::strcmp(info->dlpi_name, s.map->l_name) != 0) {
          return 0;
        }
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
          s.ranges.push_back({begin, begin + ph.p_memsz});
        }
        return 1;
      },
      &search);
  return search.ranges;
}

// The file the dynamic linker loaded for `handle` (a bare name is searched for).
std::string loaded_path(void* handle, const std::string& fallback) {
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr &&
      map->l_name[0] != '\0') {
    return map->l_name;
  }
  return fallback;
}

// Checks the plugin with every registry and the class mutex held; when `unload`, and nothing
// holds it, also takes its classes out of every registry outside the plugin, into `dropped`.
PluginCheck check(void* handle, bool unload, std::vector<ClassRef>& dropped) {
  const std::vector<AddressRange> ranges = ranges_of(handle);
  PluginCheck result;
  (void)Class::local();  // made on first use under the class mutex, which is taken below
  {
    const AllRegistries registries;
    const ClassLock held;
    check_plugin(registries, held, ranges, result);
    if (unload && !result.in_use()) {
      for (Registry* registry : registries.registries()) {
        if (in_ranges(ranges, registry)) continue;  // a static of the plugin: dies with it
        auto& classes = RegistryAccess::classes(*registry);
        for (auto it = classes.begin(); it != classes.end();) {
          const bool ours = std::any_of(result.own.begin(), result.own.end(),
                                        [&](const ClassRef& c) { return c == it->second; });
          if (ours) {
            dropped.push_back(std::move(it->second));
            it = classes.erase(it);
          } else {
            ++it;
          }
        }
      }
    }
  }
  finish_usage(result);
  return result;
}

}  // namespace

[[noreturn]] void throw_plugin_in_use(const std::string& path, PluginUsage usage) {
  throw PluginInUseError(path, std::move(usage));
}

}  // namespace detail

std::string PluginUsage::to_string() const {
  std::string out;
  auto line = [&](const std::string& text) {
    out += "\n  ";
    out += text;
  };
  auto counted = [](std::size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  for (const ClassUse& c : classes) {
    std::string text = "class '" + c.name + "':";
    const char* sep = " ";
    if (c.objects > 0) {
      text += sep;
      text += counted(c.objects, "object", "objects");
      sep = ", ";
    }
    if (!c.subclasses.empty()) {
      text += sep;
      text += c.subclasses.size() == 1 ? "subclass" : "subclasses";
      for (std::size_t i = 0; i < c.subclasses.size(); ++i) {
        text += (i == 0 ? " '" : ", '") + c.subclasses[i] + "'";
      }
      sep = ", ";
    }
    if (c.references > 0) {
      text += sep;
      text += counted(c.references, "other reference", "other references");
    }
    line(text);
  }
  for (const ValueUse& v : values) {
    line(v.type == "function" ? counted(v.count, "function", "functions") + " of its code"
                              : counted(v.count, "value", "values") + " of type '" + v.type + "'");
  }
  for (const Place& p : places) line("in " + p.where + ": " + std::to_string(p.values));
  if (unplaced > 0) {
    std::string text = std::to_string(unplaced) + " elsewhere, where only their owners may look:";
    if (other_threads > 0) {
      text += " the dicts of other threads (";
      text += std::to_string(other_threads);
      text += " live),";
    }
    if (entered_contexts > 0) {
      text += ' ';
      text += counted(entered_contexts, "context", "contexts");
      text += " entered on other threads,";
    }
    text += " C++ variables";
    line(text);
  }
  return out;
}

PluginInUseError::PluginInUseError(const std::string& path, PluginUsage usage)
    : RuntimeError("cannot unload plugin '" + path + "': it is in use" + usage.to_string()),
      usage_(std::move(usage)) {}

Plugin::Plugin(const std::string& path) : path_(path) {
  // The file is read before any of its code runs; a bare name is searched for by dlopen, and
  // checked once found.
  const bool bare = path.find('/') == std::string::npos;
  if (!bare && detail::carries_runtime(path)) detail::throw_plugin_own_copy(path);
  dlerror();
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* message = dlerror();
    detail::throw_import_error(message != nullptr ? message : "dlopen failed: " + path);
  }
  if (bare && detail::carries_runtime(detail::loaded_path(handle_, path))) {
    dlclose(std::exchange(handle_, nullptr));
    detail::throw_plugin_own_copy(path);
  }
}

Plugin::~Plugin() {
  if (handle_ == nullptr) return;
  try {
    (void)unload();
  } catch (...) {
    // Refused (or out of memory): the library stays loaded, so nothing can crash later.
  }
}

Plugin::Plugin(Plugin&& other) noexcept
    : path_(std::move(other.path_)), handle_(std::exchange(other.handle_, nullptr)) {}

void* Plugin::symbol(const std::string& name) const {
  if (handle_ == nullptr) detail::throw_plugin_not_loaded(path_);
  dlerror();
  void* address = dlsym(handle_, name.c_str());
  if (address == nullptr && dlerror() != nullptr) detail::throw_plugin_no_symbol(path_, name);
  return address;
}

PluginUsage Plugin::usage() const {
  if (handle_ == nullptr) return {};
  std::vector<ClassRef> none;
  return detail::check(handle_, false, none).usage;
}

bool Plugin::unload() {
  if (handle_ == nullptr) return true;
  std::vector<ClassRef> dropped;
  {
    detail::PluginCheck result = detail::check(handle_, true, dropped);
    if (result.in_use()) detail::throw_plugin_in_use(path_, std::move(result.usage));
  }  // the classes listed there die here, with their code still mapped
  dropped.clear();
  dlclose(std::exchange(handle_, nullptr));
  void* still = dlopen(path_.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (still == nullptr) return true;
  dlclose(still);
  return false;
}

}  // namespace localbag

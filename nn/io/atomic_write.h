// Saving a file so that no failure or crash loses the old one: the write every checkpoint and picture
// goes through. Nothing here knows what the bytes are.
#pragma once
#include <functional>
#include <iosfwd>
#include <string>

namespace qkv {

// Writes a file through write(out) into path + ".tmp", flushes it to disk (fsync), renames it over path and
// syncs the folder, so a failure at any point leaves whatever was at path untouched and no .tmp behind, and
// a crash of the machine leaves the old file or the new one. Errors throw "op: ..." naming the file and
// the system's reason: "save_safetensors: writing \"m.safetensors.tmp\" failed: No space left on device".
// Shared by save_safetensors and the examples' plots (examples/support/svg.h).
void write_file_atomically(const std::string& op, const std::string& path,
                           const std::function<void(std::ostream&)>& write);

}  // namespace qkv

// write_file_atomically (atomic_write.h): a save that a failure or a crash at any moment
// leaves as the old file or the new one at its path, never a mix, an empty file or nothing, as databases do
// it: write a temporary file, fsync it, rename it over the target, fsync the folder. POSIX calls, since the
// standard library has no fsync.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "nn/io/atomic_write.h"
#include "tensor/error.h"

namespace qkv {
namespace {

// Throws "op: what: <errno's reason>", e.g. "...: No space left on device". errno is read before `what` is
// built: making a string may call malloc, which is allowed to change errno.
template <typename Describe>
[[noreturn]] void fail_errno(const std::string& op, Describe what) {
  const int err = errno;
  fail(op, what() + ": " + std::strerror(err));
}

void write_all(const std::string& op, const std::string& tmp, int fd, std::string_view bytes) {
  while (!bytes.empty()) {  // write() may take fewer bytes than offered, or be interrupted by a signal
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) fail_errno(op, [&] { return "writing " + quote(tmp) + " failed"; });
    bytes.remove_prefix(static_cast<size_t>(written));
  }
}

// The rename changed the folder, not the file: only a sync of the folder makes the new name survive a
// power cut (else the old name may come back, or neither). Some file systems cannot sync a folder
// (EINVAL); there is nothing more to do on those.
void sync_folder(const std::string& op, const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string folder = parent.empty() ? "." : parent.string();
  const auto failed = [&] { return "saved " + quote(path) + " but cannot sync its folder " + quote(folder); };
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_errno(op, failed);
  if (::fsync(fd) != 0 && errno != EINVAL) {
    const int err = errno;
    ::close(fd);
    errno = err;
    fail_errno(op, failed);
  }
  ::close(fd);
}

}  // namespace

void write_file_atomically(const std::string& op, const std::string& path,
                           const std::function<void(std::ostream&)>& write) {
  // 1. The whole content in memory first: if write() throws, nothing on disk has been touched.
  std::ostringstream content;
  write(content);
  if (!content) fail(op, "formatting the content of " + quote(path) + " failed");

  // 2. A new temporary file beside the target. A stale one (from a save killed midway) is removed first;
  // O_EXCL | O_NOFOLLOW then make sure this save created the file and is not writing through a link.
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) fail_errno(op, [&] { return "cannot open " + quote(tmp) + " for writing"; });
  try {
    // 3. The bytes, then fsync: without it the rename may reach the disk before the data does, and a
    // crash leaves an empty file under the old name.
    write_all(op, tmp, fd, content.view());
    if (::fsync(fd) != 0) fail_errno(op, [&] { return "cannot flush " + quote(tmp) + " to disk (fsync)"; });
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) fail_errno(op, [&] { return "closing " + quote(tmp) + " failed"; });
    // 4. rename is atomic: a reader sees the old file or the new one, never half of one.
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      fail_errno(op, [&] { return "cannot rename " + quote(tmp) + " to " + quote(path); });
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  sync_folder(op, path);
}

}  // namespace qkv

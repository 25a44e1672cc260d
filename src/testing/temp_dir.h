// A fresh directory under $TMPDIR (or /tmp), removed with its contents when the
// object is destroyed. For tests only.
#pragma once

#include <string>

namespace tinykv::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name (not created).
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace tinykv::testing

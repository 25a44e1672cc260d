#include "testing/temp_dir.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "common/check.h"

namespace tinykv::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tinykv-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  TKV_CHECK(mkdtemp(buf.data()) != nullptr, "mkdtemp({}) failed", tmpl);
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace tinykv::testing

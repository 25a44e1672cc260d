// RocksEngine: the Engine on RocksDB. This folder is the only code that
// includes RocksDB headers; everything else sees storage/engine.h.
//
// Each Cf is a RocksDB column family of the same name. Writes go through the
// write-ahead log: a write that returned is in the OS page cache (it survives a
// process crash); a sync write or Sync() puts it on disk (it survives a machine
// crash).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"
#include "storage/engine.h"

namespace tinykv::storage {

struct RocksOptions {
  // Directory of the database; created if missing.
  std::string path;
  // Shared LRU cache for data blocks of all column families.
  size_t block_cache_bytes = 256u << 20;
  // Memtable size per column family.
  size_t write_buffer_bytes = 64u << 20;
  // Flush and compaction threads.
  int background_jobs = 2;
};

// Opens (creating if needed) the database at options.path.
// Errors: kIOError when the directory cannot be used (including when another
// process holds it open), kCorruption when the files are damaged,
// kInvalidArgument when the options or the existing column families don't fit.
Result<std::unique_ptr<Engine>> OpenRocksEngine(const RocksOptions& options);

}  // namespace tinykv::storage

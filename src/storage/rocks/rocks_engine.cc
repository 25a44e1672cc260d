#include "storage/rocks/rocks_engine.h"

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <atomic>
#include <optional>
#include <vector>

#include "common/check.h"

namespace tinykv::storage {
namespace {

Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return Status::OK();
  std::string msg = s.ToString();
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsIOError()) return Status::IOError(std::move(msg));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(msg));
  if (s.IsNotSupported()) return Status::NotSupported(std::move(msg));
  if (s.IsBusy() || s.IsTryAgain()) return Status::Busy(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  return Status::Internal(std::move(msg));
}

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

// Owns the database and its column family handles. Snapshots and iterators
// share it, so that the count of live ones can be checked at close.
struct Db {
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // indexed by Cf
  std::atomic<int64_t> live_snapshots{0};

  rocksdb::ColumnFamilyHandle* handle(Cf cf) const { return handles[static_cast<size_t>(cf)]; }
};

// A RocksDB snapshot, released when the last Snapshot or Iterator using it goes.
struct SnapshotHandle {
  Db* db;
  const rocksdb::Snapshot* snapshot;

  SnapshotHandle(Db* d) : db(d), snapshot(d->db->GetSnapshot()) { ++db->live_snapshots; }
  ~SnapshotHandle() {
    db->db->ReleaseSnapshot(snapshot);
    --db->live_snapshots;
  }
};

Result<std::optional<std::string>> GetFrom(const Db& db, const rocksdb::ReadOptions& ro, Cf cf,
                                           std::string_view key) {
  std::string value;
  rocksdb::Status s = db.db->Get(ro, db.handle(cf), ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s);
  return std::optional<std::string>(std::move(value));
}

class RocksIterator final : public Iterator {
 public:
  RocksIterator(std::shared_ptr<SnapshotHandle> snap, Cf cf, const IterOptions& options)
      : snap_(std::move(snap)), options_(options) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap_->snapshot;
    // RocksDB keeps pointers to the bound slices: they point into options_.
    if (options_.lower_bound) {
      lower_ = ToSlice(*options_.lower_bound);
      ro.iterate_lower_bound = &lower_;
    }
    if (options_.upper_bound) {
      upper_ = ToSlice(*options_.upper_bound);
      ro.iterate_upper_bound = &upper_;
    }
    it_.reset(snap_->db->db->NewIterator(ro, snap_->db->handle(cf)));
  }

  void SeekToFirst() override { it_->SeekToFirst(); }
  void SeekToLast() override { it_->SeekToLast(); }
  void Seek(std::string_view target) override { it_->Seek(ToSlice(target)); }
  void SeekForPrev(std::string_view target) override { it_->SeekForPrev(ToSlice(target)); }
  void Next() override {
    TKV_CHECK(it_->Valid());
    it_->Next();
  }
  void Prev() override {
    TKV_CHECK(it_->Valid());
    it_->Prev();
  }
  bool Valid() const override { return it_->Valid(); }
  std::string_view key() const override {
    TKV_CHECK(it_->Valid());
    rocksdb::Slice k = it_->key();
    return {k.data(), k.size()};
  }
  std::string_view value() const override {
    TKV_CHECK(it_->Valid());
    rocksdb::Slice v = it_->value();
    return {v.data(), v.size()};
  }
  Status status() const override { return FromRocks(it_->status()); }

 private:
  // Declared first so that it is destroyed last: the iterator reads through it.
  std::shared_ptr<SnapshotHandle> snap_;
  IterOptions options_;
  rocksdb::Slice lower_;
  rocksdb::Slice upper_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

class RocksSnapshot final : public Snapshot {
 public:
  explicit RocksSnapshot(Db* db) : snap_(std::make_shared<SnapshotHandle>(db)) {}

  Result<std::optional<std::string>> Get(Cf cf, std::string_view key) const override {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap_->snapshot;
    return GetFrom(*snap_->db, ro, cf, key);
  }

  std::unique_ptr<Iterator> NewIterator(Cf cf, const IterOptions& options) const override {
    return std::make_unique<RocksIterator>(snap_, cf, options);
  }

 private:
  std::shared_ptr<SnapshotHandle> snap_;
};

class RocksEngine final : public Engine {
 public:
  explicit RocksEngine(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  ~RocksEngine() override {
    TKV_CHECK(db_->live_snapshots == 0, "RocksEngine closed with {} live snapshots",
              db_->live_snapshots.load());
    for (rocksdb::ColumnFamilyHandle* h : db_->handles) {
      db_->db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    rocksdb::Status s = db_->db->Close();
    if (!s.ok()) {
      // Nothing is lost: what was written is in the WAL. Still worth a mention.
      fmt::print(stderr, "rocksdb close: {}\n", s.ToString());
    }
    delete db_->db;
  }

  Status Write(const WriteBatch& batch, const WriteOptions& options) override {
    rocksdb::WriteBatch wb;
    // Per family, the largest key put earlier in this batch (for kDeleteFrom).
    std::array<std::optional<std::string>, kNumCfs> max_put;
    for (const WriteBatch::Op& op : batch.ops()) {
      rocksdb::ColumnFamilyHandle* h = db_->handle(op.cf);
      rocksdb::Status s;
      switch (op.type) {
        case WriteBatch::OpType::kPut: {
          s = wb.Put(h, ToSlice(op.key), ToSlice(op.value));
          auto& m = max_put[static_cast<size_t>(op.cf)];
          if (!m || op.key > *m) m = op.key;
          break;
        }
        case WriteBatch::OpType::kDelete:
          s = wb.Delete(h, ToSlice(op.key));
          break;
        case WriteBatch::OpType::kDeleteRange:
          s = wb.DeleteRange(h, ToSlice(op.key), ToSlice(op.value));
          break;
        case WriteBatch::OpType::kDeleteFrom: {
          // RocksDB ranges need an end: delete up to the last key present
          // (stored, or put earlier in this batch), then that key. Callers
          // own the range: no concurrent writer adds a key beyond it.
          std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions(), h));
          it->SeekToLast();
          if (!it->status().ok()) return FromRocks(it->status());
          std::optional<std::string> last = max_put[static_cast<size_t>(op.cf)];
          if (it->Valid() && (!last || it->key().ToString() > *last)) last = it->key().ToString();
          if (last && *last >= op.key) {
            s = wb.DeleteRange(h, ToSlice(op.key), *last);
            if (s.ok()) s = wb.Delete(h, *last);
          }
          break;
        }
      }
      if (!s.ok()) return FromRocks(s);
    }
    rocksdb::WriteOptions wo;
    wo.sync = options.sync;
    return FromRocks(db_->db->Write(wo, &wb));
  }

  Status Sync() override { return FromRocks(db_->db->SyncWAL()); }

  std::unique_ptr<Snapshot> NewSnapshot() override {
    return std::make_unique<RocksSnapshot>(db_.get());
  }

  Result<std::optional<std::string>> Get(Cf cf, std::string_view key) override {
    return GetFrom(*db_, rocksdb::ReadOptions(), cf, key);
  }

 private:
  std::unique_ptr<Db> db_;
};

}  // namespace

Result<std::unique_ptr<Engine>> OpenRocksEngine(const RocksOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("RocksDB path is empty");

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = options.write_buffer_bytes;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = options.background_jobs;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (Cf cf : kAllCfs) {
    // RocksDB's built-in family is called "default", like ours.
    descriptors.emplace_back(std::string(CfName(cf)), cf_options);
  }

  auto db = std::make_unique<Db>();
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, options.path, descriptors, &db->handles, &db->db);
  if (!s.ok()) return FromRocks(s).WithContext("open " + options.path);
  TKV_CHECK(db->handles.size() == kNumCfs);
  return std::unique_ptr<Engine>(std::make_unique<RocksEngine>(std::move(db)));
}

}  // namespace tinykv::storage

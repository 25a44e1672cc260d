// KvStorage: where the KV commands (raw now, transactions later) read and
// write, given the request's Context. Two implementations:
//   StandaloneKvStorage  one node on storage::Storage; the Context is ignored
//   RaftKvStorage        cluster mode: writes are proposed to the region's
//                        Raft group, reads are linearizable (ReadIndex) and
//                        come from an engine snapshot
//
// Outcomes: a region error (the request did not and will not take effect:
// the client refreshes its route and retries), or a Status. A write whose
// outcome is unknown (it may still commit) reports kDeadlineExceeded, never a
// region error.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "common/result.h"
#include "errorpb.pb.h"
#include "kvrpcpb.pb.h"
#include "metapb.pb.h"
#include "storage/engine.h"

namespace tinykv::storage {
class Storage;
}
namespace tinykv::raftstore {
class Store;
}

namespace tinykv::server {

struct KvSnapshot {
  std::shared_ptr<storage::Snapshot> snapshot;
  // Cluster mode: the region served; keys outside it are not this
  // snapshot's to answer. Standalone: none (every key).
  std::optional<metapb::Region> region;
  // Cluster mode: the leader's term it was read at (see
  // raftstore::ReadResponse::term); a write decided from it passes it in
  // its Context. Standalone: 0 (no check).
  uint64_t term = 0;
};

class KvStorage {
 public:
  using WriteDone = std::function<void(std::optional<errorpb::Error> region_error, Status status)>;
  using SnapshotDone =
      std::function<void(std::optional<errorpb::Error> region_error, Result<KvSnapshot> snapshot)>;

  virtual ~KvStorage() = default;
  // `done` runs exactly once, possibly on another thread.
  virtual void Write(const kvrpcpb::Context& ctx, storage::WriteBatch batch, WriteDone done) = 0;
  virtual void Snapshot(const kvrpcpb::Context& ctx, SnapshotDone done) = 0;
};

class StandaloneKvStorage final : public KvStorage {
 public:
  explicit StandaloneKvStorage(storage::Storage& storage) : storage_(storage) {}
  void Write(const kvrpcpb::Context& ctx, storage::WriteBatch batch, WriteDone done) override;
  void Snapshot(const kvrpcpb::Context& ctx, SnapshotDone done) override;

 private:
  storage::Storage& storage_;
};

class RaftKvStorage final : public KvStorage {
 public:
  explicit RaftKvStorage(raftstore::Store& store) : store_(store) {}
  // Puts and deletes only (what a client command produces).
  void Write(const kvrpcpb::Context& ctx, storage::WriteBatch batch, WriteDone done) override;
  void Snapshot(const kvrpcpb::Context& ctx, SnapshotDone done) override;

 private:
  raftstore::Store& store_;
};

}  // namespace tinykv::server

#include "server/kv_storage.h"

#include "raftstore/store.h"
#include "storage/storage.h"

namespace tinykv::server {

void StandaloneKvStorage::Write(const kvrpcpb::Context&, storage::WriteBatch batch,
                                WriteDone done) {
  storage_.AsyncWrite(std::move(batch),
                      [done = std::move(done)](Status s) { done(std::nullopt, std::move(s)); });
}

void StandaloneKvStorage::Snapshot(const kvrpcpb::Context&, SnapshotDone done) {
  storage_.AsyncSnapshot([done = std::move(done)](Result<std::unique_ptr<storage::Snapshot>> snap) {
    if (!snap.ok()) return done(std::nullopt, snap.status());
    done(std::nullopt, KvSnapshot{std::shared_ptr<storage::Snapshot>(std::move(*snap)), {}, 0});
  });
}

namespace {

raft_cmdpb::RaftRequestHeader HeaderOf(const kvrpcpb::Context& ctx) {
  raft_cmdpb::RaftRequestHeader h;
  h.set_region_id(ctx.region_id());
  *h.mutable_peer() = ctx.peer();
  *h.mutable_region_epoch() = ctx.region_epoch();
  h.set_term(ctx.term());
  return h;
}

}  // namespace

void RaftKvStorage::Write(const kvrpcpb::Context& ctx, storage::WriteBatch batch, WriteDone done) {
  raft_cmdpb::RaftCmdRequest cmd;
  *cmd.mutable_header() = HeaderOf(ctx);
  for (const auto& op : batch.ops()) {
    raft_cmdpb::Request* r = cmd.add_requests();
    switch (op.type) {
      case storage::WriteBatch::OpType::kPut:
        r->set_cmd_type(raft_cmdpb::Put);
        r->mutable_put()->set_cf(std::string(storage::CfName(op.cf)));
        r->mutable_put()->set_key(op.key);
        r->mutable_put()->set_value(op.value);
        break;
      case storage::WriteBatch::OpType::kDelete:
        r->set_cmd_type(raft_cmdpb::Delete);
        r->mutable_delete_()->set_cf(std::string(storage::CfName(op.cf)));
        r->mutable_delete_()->set_key(op.key);
        break;
      default:
        return done(std::nullopt,
                    Status::InvalidArgument("range deletes are not replicated commands"));
    }
  }
  store_.Propose(std::move(cmd), [done = std::move(done)](raftstore::WriteResponse resp) {
    done(std::move(resp.region_error), std::move(resp.status));
  });
}

void RaftKvStorage::Snapshot(const kvrpcpb::Context& ctx, SnapshotDone done) {
  store_.Read(HeaderOf(ctx), [done = std::move(done)](raftstore::ReadResponse resp) {
    if (resp.region_error)
      return done(std::move(resp.region_error), Status::Unavailable("region error"));
    if (!resp.status.ok()) return done(std::nullopt, std::move(resp.status));
    done(std::nullopt, KvSnapshot{std::move(resp.snapshot), std::move(resp.region), resp.term});
  });
}

}  // namespace tinykv::server

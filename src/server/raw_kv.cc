#include "server/raw_kv.h"

#include <fmt/format.h>

#include "raftstore/msg.h"

namespace tinykv::server {

using storage::Cf;

Result<Cf> ParseClientCf(const std::string& name) {
  if (name.empty() || name == "default") return Cf::kDefault;
  if (name == "lock") return Cf::kLock;
  if (name == "write") return Cf::kWrite;
  return Status::InvalidArgument(
      fmt::format("unknown column family '{}' (default, lock, write)", name));
}

RawKv::RawKv(KvStorage& storage, RawKvLimits limits) : storage_(storage), limits_(limits) {}

Result<Cf> RawKv::CheckTarget(const std::string& cf, const std::string& key) const {
  if (key.empty()) return Status::InvalidArgument("key is empty");
  if (key.size() > limits_.max_key_size) {
    return Status::InvalidArgument(
        fmt::format("key is {} bytes, over max-key-size {}", key.size(), limits_.max_key_size));
  }
  return ParseClientCf(cf);
}

namespace {

bool KeyInRegion(const std::string& key, const metapb::Region& region) {
  return key >= region.start_key() && (region.end_key().empty() || key < region.end_key());
}

// Fills the response's error fields from a failed snapshot. Returns whether
// there was a snapshot to read.
template <typename Response>
bool TakeSnapshot(std::optional<errorpb::Error>& region_error, Result<KvSnapshot>& snap,
                  Response* resp) {
  if (region_error) {
    *resp->mutable_region_error() = std::move(*region_error);
    return false;
  }
  if (!snap.ok()) {
    resp->set_error(snap.status().ToString());
    return false;
  }
  return true;
}

}  // namespace

template <typename Request, typename Response>
void RawKv::Write(const Request& req, storage::WriteBatch batch, Response* resp, Done done) {
  storage_.Write(
      req.context(), std::move(batch),
      [resp, done = std::move(done)](std::optional<errorpb::Error> region_error, Status st) {
        if (region_error) {
          *resp->mutable_region_error() = std::move(*region_error);
        } else if (!st.ok()) {
          resp->set_error(st.ToString());
        }
        done();
      });
}

void RawKv::Get(const kvrpcpb::RawGetRequest& req, kvrpcpb::RawGetResponse* resp, Done done) {
  auto cf = CheckTarget(req.cf(), req.key());
  if (!cf.ok()) {
    resp->set_error(cf.status().ToString());
    return done();
  }
  storage_.Snapshot(
      req.context(), [&req, resp, cf = *cf, done = std::move(done)](
                         std::optional<errorpb::Error> region_error, Result<KvSnapshot> snap) {
        if (!TakeSnapshot(region_error, snap, resp)) return done();
        if (snap->region && !KeyInRegion(req.key(), *snap->region)) {
          *resp->mutable_region_error() = raftstore::KeyNotInRegionError(req.key(), *snap->region);
          return done();
        }
        auto value = snap->snapshot->Get(cf, req.key());
        if (!value.ok()) {
          resp->set_error(value.status().ToString());
        } else if (!value->has_value()) {
          resp->set_not_found(true);
        } else {
          resp->set_value(std::move(**value));
        }
        done();
      });
}

void RawKv::Put(const kvrpcpb::RawPutRequest& req, kvrpcpb::RawPutResponse* resp, Done done) {
  auto cf = CheckTarget(req.cf(), req.key());
  Status s = cf.status();
  if (s.ok() && req.value().size() > limits_.max_value_size) {
    s = Status::InvalidArgument(fmt::format("value is {} bytes, over max-value-size {}",
                                            req.value().size(), limits_.max_value_size));
  }
  if (!s.ok()) {
    resp->set_error(s.ToString());
    return done();
  }
  storage::WriteBatch batch;
  batch.Put(*cf, req.key(), req.value());
  Write(req, std::move(batch), resp, std::move(done));
}

void RawKv::Delete(const kvrpcpb::RawDeleteRequest& req, kvrpcpb::RawDeleteResponse* resp,
                   Done done) {
  auto cf = CheckTarget(req.cf(), req.key());
  if (!cf.ok()) {
    resp->set_error(cf.status().ToString());
    return done();
  }
  storage::WriteBatch batch;
  batch.Delete(*cf, req.key());
  Write(req, std::move(batch), resp, std::move(done));
}

void RawKv::Scan(const kvrpcpb::RawScanRequest& req, kvrpcpb::RawScanResponse* resp, Done done) {
  auto cf = ParseClientCf(req.cf());
  Status s = cf.status();
  if (s.ok() && req.start_key().size() > limits_.max_key_size) {
    s = Status::InvalidArgument(fmt::format("start key is {} bytes, over max-key-size {}",
                                            req.start_key().size(), limits_.max_key_size));
  }
  if (s.ok() && req.limit() > limits_.max_scan_limit) {
    s = Status::InvalidArgument(fmt::format("scan limit {} is over max-scan-limit {}", req.limit(),
                                            limits_.max_scan_limit));
  }
  if (!s.ok()) {
    resp->set_error(s.ToString());
    return done();
  }
  if (req.limit() == 0) return done();
  storage_.Snapshot(
      req.context(), [this, &req, resp, cf = *cf, done = std::move(done)](
                         std::optional<errorpb::Error> region_error, Result<KvSnapshot> snap) {
        if (!TakeSnapshot(region_error, snap, resp)) return done();
        storage::IterOptions opts;
        if (snap->region) {
          const metapb::Region& region = *snap->region;
          if (!KeyInRegion(req.start_key(), region)) {
            *resp->mutable_region_error() = raftstore::KeyNotInRegionError(req.start_key(), region);
            return done();
          }
          if (!region.end_key().empty()) opts.upper_bound = region.end_key();
        }
        auto it = snap->snapshot->NewIterator(cf, opts);
        size_t bytes = 0;
        for (it->Seek(req.start_key());
             it->Valid() && resp->kvs_size() < static_cast<int>(req.limit()); it->Next()) {
          bytes += it->key().size() + it->value().size();
          if (bytes > limits_.max_response_bytes) {
            resp->clear_kvs();
            resp->set_error(Status::InvalidArgument(
                                fmt::format("scan result is over {} bytes (max-message-size); "
                                            "ask for fewer keys",
                                            limits_.max_response_bytes))
                                .ToString());
            return done();
          }
          kvrpcpb::KvPair* kv = resp->add_kvs();
          kv->set_key(it->key().data(), it->key().size());
          kv->set_value(it->value().data(), it->value().size());
        }
        if (!it->status().ok()) {
          resp->clear_kvs();
          resp->set_error(it->status().ToString());
        }
        done();
      });
}

Status RawKv::CheckBatchSize(int n) const {
  if (n == 0) return Status::InvalidArgument("the batch is empty");
  if (static_cast<uint32_t>(n) > limits_.max_batch_keys) {
    return Status::InvalidArgument(
        fmt::format("batch of {} keys is over max-batch-keys {}", n, limits_.max_batch_keys));
  }
  return Status::OK();
}

void RawKv::BatchGet(const kvrpcpb::RawBatchGetRequest& req, kvrpcpb::RawBatchGetResponse* resp,
                     Done done) {
  Status s = CheckBatchSize(req.keys_size());
  Cf cf = Cf::kDefault;
  for (const auto& key : req.keys()) {
    if (!s.ok()) break;
    auto c = CheckTarget(req.cf(), key);
    s = c.status();
    if (c.ok()) cf = *c;
  }
  if (!s.ok()) {
    resp->set_error(s.ToString());
    return done();
  }
  storage_.Snapshot(req.context(), [this, &req, resp, cf, done = std::move(done)](
                                       std::optional<errorpb::Error> region_error,
                                       Result<KvSnapshot> snap) {
    if (!TakeSnapshot(region_error, snap, resp)) return done();
    size_t bytes = 0;
    for (const auto& key : req.keys()) {
      if (snap->region && !KeyInRegion(key, *snap->region)) {
        resp->clear_pairs();
        *resp->mutable_region_error() = raftstore::KeyNotInRegionError(key, *snap->region);
        return done();
      }
      auto value = snap->snapshot->Get(cf, key);
      if (!value.ok()) {
        resp->clear_pairs();
        resp->set_error(value.status().ToString());
        return done();
      }
      if (!value->has_value()) continue;
      bytes += key.size() + (*value)->size();
      if (bytes > limits_.max_response_bytes) {
        resp->clear_pairs();
        resp->set_error(Status::InvalidArgument(
                            fmt::format("batch get result is over {} bytes (max-message-size); "
                                        "ask for fewer keys",
                                        limits_.max_response_bytes))
                            .ToString());
        return done();
      }
      kvrpcpb::KvPair* kv = resp->add_pairs();
      kv->set_key(key);
      kv->set_value(std::move(**value));
    }
    done();
  });
}

void RawKv::BatchPut(const kvrpcpb::RawBatchPutRequest& req, kvrpcpb::RawBatchPutResponse* resp,
                     Done done) {
  Status s = CheckBatchSize(req.pairs_size());
  storage::WriteBatch batch;
  for (const auto& kv : req.pairs()) {
    if (!s.ok()) break;
    auto cf = CheckTarget(req.cf(), kv.key());
    s = cf.status();
    if (s.ok() && kv.value().size() > limits_.max_value_size) {
      s = Status::InvalidArgument(fmt::format("value of a key is {} bytes, over max-value-size {}",
                                              kv.value().size(), limits_.max_value_size));
    }
    if (s.ok()) batch.Put(*cf, kv.key(), kv.value());
  }
  if (!s.ok()) {
    resp->set_error(s.ToString());
    return done();
  }
  Write(req, std::move(batch), resp, std::move(done));
}

}  // namespace tinykv::server

#include "server/txn_kv.h"

#include <fmt/format.h>

#include "common/check.h"
#include "raftstore/msg.h"
#include "txn/actions.h"
#include "txn/keys.h"

namespace tinykv::server {

namespace {

// The engine key a region must hold for `key` to be its to serve.
bool Owns(const std::optional<metapb::Region>& region, const std::string& key) {
  return !region || raftstore::KeyInRegion(txn::EncodeUserKey(key), *region);
}

std::optional<errorpb::Error> CheckOwned(const std::optional<metapb::Region>& region,
                                         const std::string& key) {
  if (Owns(region, key)) return std::nullopt;
  return raftstore::KeyNotInRegionError(txn::EncodeUserKey(key), *region);
}

// Runs `action` (a KeyResult of one key) on each key in turn; the first
// KeyError goes into the response and stops the command (nothing of it is
// written). Returns whether to write what was staged.
template <typename Response, typename Keys, typename Action>
Result<bool> EachKey(Response* resp, const Keys& keys, Action action) {
  for (const auto& k : keys) {
    txn::KeyResult e = action(k);
    if (!e.ok()) return e.status();
    if (e->has_value()) {
      *resp->mutable_error() = std::move(**e);
      return false;
    }
  }
  return true;
}

// Where a command's region error goes: its response.
template <typename Response>
std::function<void(errorpb::Error)> RegionErrorTo(Response* resp) {
  return [resp](errorpb::Error e) { *resp->mutable_region_error() = std::move(e); };
}

}  // namespace

struct TxnKv::ResolveState {
  const kvrpcpb::ResolveLockRequest* req;
  kvrpcpb::ResolveLockResponse* resp;
  Done done;
  std::string resume;  // the engine key the next round starts from
};

TxnKv::TxnKv(KvStorage& storage, TxnKvLimits limits)
    : storage_(storage), limits_(limits), latches_(limits.latch_slots) {}

Status TxnKv::CheckKey(const std::string& key) const {
  if (key.empty()) return Status::InvalidArgument("key is empty");
  if (key.size() > limits_.max_key_size) {
    return Status::InvalidArgument(
        fmt::format("key is {} bytes, over max-key-size {}", key.size(), limits_.max_key_size));
  }
  return Status::OK();
}

Status TxnKv::CheckKeys(const google::protobuf::RepeatedPtrField<std::string>& keys) const {
  if (static_cast<uint32_t>(keys.size()) > limits_.max_batch_keys) {
    return Status::InvalidArgument(fmt::format("{} keys is over max-batch-keys {}", keys.size(),
                                               limits_.max_batch_keys));
  }
  for (const auto& k : keys) {
    if (Status s = CheckKey(k); !s.ok()) return s;
  }
  return Status::OK();
}

void TxnKv::RunWrite(const kvrpcpb::Context& ctx, std::vector<std::string> keys, uint64_t start_ts,
                     Body body, SetRegionError set_region_error, Done done) {
  if (keys.empty()) return done(Status::OK());
  // Shared by the latch request (read at once) and the callbacks: one copy.
  auto shared_keys = std::make_shared<const std::vector<std::string>>(std::move(keys));
  latches_.Acquire(*shared_keys, [this, ctx, keys = shared_keys, start_ts,
                                body = std::move(body), set_region_error = std::move(set_region_error),
                                done = std::move(done)](txn::Latches::Id id) mutable {
    storage_.Snapshot(ctx, [this, ctx, keys = std::move(keys), start_ts, body = std::move(body),
                            set_region_error = std::move(set_region_error), done = std::move(done),
                            id](std::optional<errorpb::Error> region_error,
                                Result<KvSnapshot> snap) mutable {
      auto finish = [this, id, &done](Status s) {
        latches_.Release(id);
        done(std::move(s));
      };
      if (region_error) {
        set_region_error(std::move(*region_error));
        return finish(Status::OK());
      }
      if (!snap.ok()) return finish(snap.status());
      for (const auto& k : *keys) {
        if (auto e = CheckOwned(snap->region, k)) {
          set_region_error(std::move(*e));
          return finish(Status::OK());
        }
      }
      txn::MvccReader reader(*snap->snapshot);
      txn::MvccTxn txn(reader, start_ts);
      Result<bool> write = body(txn, *keys);
      if (!write.ok()) return finish(write.status());
      if (!*write || txn.batch().empty()) return finish(Status::OK());
      TKV_CHECK(latches_.HoldsAll(id, txn.written_keys()),
                "a transactional command wrote a key it did not latch");
      kvrpcpb::Context wctx = ctx;
      wctx.set_term(snap->term);
      storage::WriteBatch batch = txn.TakeBatch();
      snap->snapshot.reset();  // not held while the write waits on Raft
      storage_.Write(wctx, std::move(batch),
                     [this, id, set_region_error = std::move(set_region_error),
                      done = std::move(done)](std::optional<errorpb::Error> region_error,
                                              Status st) {
                       latches_.Release(id);
                       if (region_error) {
                         set_region_error(std::move(*region_error));
                         return done(Status::OK());
                       }
                       done(std::move(st));
                     });
    });
  });
}

// ---- Reads ----

void TxnKv::Get(const kvrpcpb::GetRequest& req, kvrpcpb::GetResponse* resp, Done done) {
  if (Status s = CheckKey(req.key()); !s.ok()) return done(s);
  storage_.Snapshot(req.context(), [&req, resp, done = std::move(done)](
                                       std::optional<errorpb::Error> region_error,
                                       Result<KvSnapshot> snap) {
    if (region_error) {
      *resp->mutable_region_error() = std::move(*region_error);
      return done(Status::OK());
    }
    if (!snap.ok()) return done(snap.status());
    if (auto e = CheckOwned(snap->region, req.key())) {
      *resp->mutable_region_error() = std::move(*e);
      return done(Status::OK());
    }
    txn::MvccReader reader(*snap->snapshot);
    auto got = txn::Get(reader, req.key(), req.version());
    if (!got.ok()) return done(got.status());
    if (got->locked) {
      *resp->mutable_error()->mutable_locked() = std::move(*got->locked);
    } else if (!got->value) {
      resp->set_not_found(true);
    } else {
      resp->set_value(std::move(*got->value));
    }
    done(Status::OK());
  });
}

void TxnKv::Scan(const kvrpcpb::ScanRequest& req, kvrpcpb::ScanResponse* resp, Done done) {
  if (req.start_key().size() > limits_.max_key_size) {
    return done(Status::InvalidArgument(fmt::format("start key is {} bytes, over max-key-size {}",
                                                    req.start_key().size(),
                                                    limits_.max_key_size)));
  }
  if (req.limit() > limits_.max_scan_limit) {
    return done(Status::InvalidArgument(fmt::format("scan limit {} is over max-scan-limit {}",
                                                    req.limit(), limits_.max_scan_limit)));
  }
  if (req.limit() == 0) return done(Status::OK());
  storage_.Snapshot(req.context(), [this, &req, resp, done = std::move(done)](
                                       std::optional<errorpb::Error> region_error,
                                       Result<KvSnapshot> snap) {
    if (region_error) {
      *resp->mutable_region_error() = std::move(*region_error);
      return done(Status::OK());
    }
    if (!snap.ok()) return done(snap.status());
    std::string lower, upper;
    if (snap->region) {
      lower = snap->region->start_key();
      upper = snap->region->end_key();
      // A start key before the region is fine (the client goes on from the
      // previous region); one after it is not this region's to answer.
      std::string start = txn::EncodeUserKey(req.start_key());
      if (!upper.empty() && start >= upper) {
        *resp->mutable_region_error() = raftstore::KeyNotInRegionError(start, *snap->region);
        return done(Status::OK());
      }
    }
    txn::Scanner scanner(*snap->snapshot, req.start_key(), req.version(), lower, upper);
    size_t bytes = 0;
    while (resp->pairs_size() < static_cast<int>(req.limit())) {
      auto item = scanner.Next();
      if (!item.ok()) {
        resp->clear_pairs();
        return done(item.status());
      }
      if (!item->has_value()) break;
      bytes += (*item)->key.size() + (*item)->value.size();
      if (bytes > limits_.max_response_bytes) {
        resp->clear_pairs();
        return done(Status::InvalidArgument(fmt::format(
            "scan result is over {} bytes (max-message-size); ask for fewer keys",
            limits_.max_response_bytes)));
      }
      kvrpcpb::KvPair* kv = resp->add_pairs();
      kv->set_key(std::move((*item)->key));
      if ((*item)->locked) {
        *kv->mutable_error()->mutable_locked() = std::move(*(*item)->locked);
      } else {
        kv->set_value(std::move((*item)->value));
      }
    }
    done(Status::OK());
  });
}

// ---- Writes ----

void TxnKv::Prewrite(const kvrpcpb::PrewriteRequest& req, kvrpcpb::PrewriteResponse* resp,
                     Done done) {
  if (static_cast<uint32_t>(req.mutations_size()) > limits_.max_batch_keys) {
    return done(Status::InvalidArgument(fmt::format(
        "{} mutations is over max-batch-keys {}", req.mutations_size(), limits_.max_batch_keys)));
  }
  std::vector<std::string> keys;
  keys.reserve(req.mutations_size());
  for (const auto& m : req.mutations()) {
    if (Status s = CheckKey(m.key()); !s.ok()) return done(s);
    if (m.value().size() > limits_.max_value_size) {
      return done(Status::InvalidArgument(fmt::format("value is {} bytes, over max-value-size {}",
                                                      m.value().size(), limits_.max_value_size)));
    }
    keys.push_back(m.key());
  }
  if (!keys.empty()) {
    if (Status s = CheckKey(req.primary_lock()); !s.ok())
      return done(Status::InvalidArgument("primary lock: " + s.message()));
  }
  RunWrite(
      req.context(), std::move(keys), req.start_version(),
      [&req, resp](txn::MvccTxn& txn, const std::vector<std::string>&) -> Result<bool> {
        for (const auto& m : req.mutations()) {
          auto e = txn::Prewrite(txn, m, req.primary_lock(), req.lock_ttl());
          if (!e.ok()) return e.status();
          if (e->has_value()) *resp->add_errors() = std::move(**e);
        }
        return resp->errors_size() == 0;
      },
      RegionErrorTo(resp), std::move(done));
}

void TxnKv::Commit(const kvrpcpb::CommitRequest& req, kvrpcpb::CommitResponse* resp, Done done) {
  if (Status s = CheckKeys(req.keys()); !s.ok()) return done(s);
  if (req.keys_size() > 0 && req.commit_version() <= req.start_version()) {
    return done(Status::InvalidArgument(fmt::format("commit version {} is not after start version {}",
                                                    req.commit_version(), req.start_version())));
  }
  RunWrite(
      req.context(), {req.keys().begin(), req.keys().end()}, req.start_version(),
      [&req, resp](txn::MvccTxn& txn, const std::vector<std::string>&) {
        return EachKey(resp, req.keys(), [&](const std::string& k) {
          return txn::Commit(txn, k, req.commit_version());
        });
      },
      RegionErrorTo(resp), std::move(done));
}

void TxnKv::BatchRollback(const kvrpcpb::BatchRollbackRequest& req,
                          kvrpcpb::BatchRollbackResponse* resp, Done done) {
  if (Status s = CheckKeys(req.keys()); !s.ok()) return done(s);
  RunWrite(
      req.context(), {req.keys().begin(), req.keys().end()}, req.start_version(),
      [&req, resp](txn::MvccTxn& txn, const std::vector<std::string>&) {
        return EachKey(resp, req.keys(),
                       [&](const std::string& k) { return txn::Rollback(txn, k); });
      },
      RegionErrorTo(resp), std::move(done));
}

void TxnKv::CheckTxnStatus(const kvrpcpb::CheckTxnStatusRequest& req,
                           kvrpcpb::CheckTxnStatusResponse* resp, Done done) {
  if (Status s = CheckKey(req.primary_key()); !s.ok()) return done(s);
  RunWrite(
      req.context(), {req.primary_key()}, req.lock_ts(),
      [&req, resp](txn::MvccTxn& txn, const std::vector<std::string>&) -> Result<bool> {
        auto st = txn::CheckTxnStatus(txn, req.primary_key(), req.current_ts());
        if (!st.ok()) return st.status();
        resp->set_lock_ttl(st->lock_ttl);
        resp->set_commit_version(st->commit_ts);
        resp->set_action(st->action);
        return true;
      },
      [resp](errorpb::Error e) {
        resp->Clear();
        *resp->mutable_region_error() = std::move(e);
      },
      std::move(done));
}

void TxnKv::ResolveLock(const kvrpcpb::ResolveLockRequest& req, kvrpcpb::ResolveLockResponse* resp,
                        Done done) {
  if (req.commit_version() != 0 && req.commit_version() <= req.start_version()) {
    return done(Status::InvalidArgument(fmt::format("commit version {} is not after start version {}",
                                                    req.commit_version(), req.start_version())));
  }
  ResolveRound(std::make_shared<ResolveState>(ResolveState{&req, resp, std::move(done), ""}));
}

// One round of KvResolveLock: find up to resolve_batch_keys locks of the
// transaction, then latch, re-read and resolve them in one write; again
// until none is left. The locks found are re-checked under the latches, so
// one resolved meanwhile by another command is left alone.
void TxnKv::ResolveRound(std::shared_ptr<ResolveState> state) {
  storage_.Snapshot(state->req->context(), [this, state](std::optional<errorpb::Error> region_error,
                                                         Result<KvSnapshot> snap) {
    if (region_error) {
      *state->resp->mutable_region_error() = std::move(*region_error);
      return state->done(Status::OK());
    }
    if (!snap.ok()) return state->done(snap.status());
    std::string lower = std::max(state->resume, snap->region ? snap->region->start_key() : "");
    std::string upper = snap->region ? snap->region->end_key() : "";
    txn::MvccReader reader(*snap->snapshot);
    auto scan = reader.LocksOf(state->req->start_version(), lower, upper, limits_.resolve_batch_keys);
    if (!scan.ok()) return state->done(scan.status());
    if (scan->locks.empty()) return state->done(Status::OK());
    std::vector<std::string> keys;
    for (auto& kl : scan->locks) keys.push_back(std::move(kl.user_key));
    bool more = scan->more;
    state->resume = std::move(scan->resume);
    const uint64_t commit_ts = state->req->commit_version();
    RunWrite(
        state->req->context(), std::move(keys), state->req->start_version(),
        [state, commit_ts](txn::MvccTxn& txn, const std::vector<std::string>& locked) {
          return EachKey(state->resp, locked, [&](const std::string& k) {
            return commit_ts > 0 ? txn::Commit(txn, k, commit_ts) : txn::Rollback(txn, k);
          });
        },
        RegionErrorTo(state->resp),
        [this, state, more](Status s) {
          if (!s.ok() || !more || state->resp->has_error() || state->resp->has_region_error())
            return state->done(std::move(s));
          ResolveRound(state);
        });
  });
}

}  // namespace tinykv::server

#include "txn/actions.h"

#include <fmt/format.h>

#include "common/bytes.h"

namespace tinykv::txn {
namespace {

kvrpcpb::KeyError Locked(const Lock& lock, std::string_view key) {
  kvrpcpb::KeyError e;
  *e.mutable_locked() = lock.Info(key);
  return e;
}

kvrpcpb::KeyError Abort(std::string msg) {
  kvrpcpb::KeyError e;
  e.set_abort(std::move(msg));
  return e;
}

kvrpcpb::KeyError Retryable(std::string msg) {
  kvrpcpb::KeyError e;
  e.set_retryable(std::move(msg));
  return e;
}

// Drops this transaction's lock and value and leaves a rollback record.
void RollbackLocked(MvccTxn& txn, std::string_view key, const Lock& lock) {
  if (lock.kind == WriteKind::kPut) txn.DeleteValue(key);
  txn.DeleteLock(key);
  txn.PutWrite(key, txn.start_ts(), Write{WriteKind::kRollback, txn.start_ts()});
}

}  // namespace

Result<GetResult> Get(const MvccReader& reader, std::string_view key, uint64_t ts) {
  auto lock = reader.GetLock(key);
  if (!lock.ok()) return lock.status();
  GetResult out;
  if (lock->has_value() && (*lock)->ts <= ts && (*lock)->kind != WriteKind::kLock) {
    out.locked = (*lock)->Info(key);
    return out;
  }
  auto value = reader.GetValue(key, ts);
  if (!value.ok()) return value.status();
  out.value = std::move(*value);
  return out;
}

KeyResult Prewrite(MvccTxn& txn, const kvrpcpb::Mutation& m, std::string_view primary,
                   uint64_t ttl_ms) {
  const std::string& key = m.key();
  WriteKind kind;
  switch (m.op()) {
    case kvrpcpb::Put:
      kind = WriteKind::kPut;
      break;
    case kvrpcpb::Del:
      kind = WriteKind::kDelete;
      break;
    case kvrpcpb::Lock:
      kind = WriteKind::kLock;
      break;
    default:
      return std::optional(Abort(
          fmt::format("InvalidArgument: mutation op {} cannot be prewritten", static_cast<int>(m.op()))));
  }
  auto recent = txn.reader().MostRecentWrite(key);
  if (!recent.ok()) return recent.status();
  if (recent->has_value() && (*recent)->commit_ts >= txn.start_ts()) {
    kvrpcpb::KeyError e;
    auto* c = e.mutable_conflict();
    c->set_start_ts(txn.start_ts());
    c->set_conflict_ts((*recent)->commit_ts);
    c->set_key(key);
    c->set_primary(std::string(primary));
    return std::optional(std::move(e));
  }
  auto lock = txn.reader().GetLock(key);
  if (!lock.ok()) return lock.status();
  if (lock->has_value() && (*lock)->ts != txn.start_ts()) return std::optional(Locked(**lock, key));
  switch (kind) {
    case WriteKind::kPut:
      txn.PutValue(key, m.value());
      break;
    case WriteKind::kDelete:
      txn.DeleteValue(key);
      break;
    default:
      break;
  }
  txn.PutLock(key, Lock{std::string(primary), kind, txn.start_ts(), ttl_ms});
  return std::optional<kvrpcpb::KeyError>();
}

KeyResult Commit(MvccTxn& txn, std::string_view key, uint64_t commit_ts) {
  auto lock = txn.reader().GetLock(key);
  if (!lock.ok()) return lock.status();
  if (lock->has_value() && (*lock)->ts == txn.start_ts()) {
    txn.PutWrite(key, commit_ts, Write{(*lock)->kind, txn.start_ts()});
    txn.DeleteLock(key);
    return std::optional<kvrpcpb::KeyError>();
  }
  auto current = txn.reader().CurrentWrite(key, txn.start_ts());
  if (!current.ok()) return current.status();
  if (current->has_value()) {
    if ((*current)->write.kind == WriteKind::kRollback) {
      return std::optional(
          Abort(fmt::format("the transaction started at {} was rolled back", txn.start_ts())));
    }
    return std::optional<kvrpcpb::KeyError>();  // committed already
  }
  if (lock->has_value()) {
    return std::optional(Retryable(fmt::format(
        "key '{}' is locked by the transaction started at {}", EscapeBytes(key), (*lock)->ts)));
  }
  return std::optional(Abort(fmt::format(
      "lock not found: the transaction started at {} holds no lock on '{}' and did not commit it",
      txn.start_ts(), EscapeBytes(key))));
}

KeyResult Rollback(MvccTxn& txn, std::string_view key) {
  auto current = txn.reader().CurrentWrite(key, txn.start_ts());
  if (!current.ok()) return current.status();
  if (current->has_value()) {
    if ((*current)->write.kind == WriteKind::kRollback) return std::optional<kvrpcpb::KeyError>();
    return std::optional(Abort(fmt::format("the transaction started at {} committed at {}",
                                           txn.start_ts(), (*current)->commit_ts)));
  }
  auto lock = txn.reader().GetLock(key);
  if (!lock.ok()) return lock.status();
  if (lock->has_value() && (*lock)->ts == txn.start_ts()) {
    RollbackLocked(txn, key, **lock);
  } else {
    txn.PutWrite(key, txn.start_ts(), Write{WriteKind::kRollback, txn.start_ts()});
  }
  return std::optional<kvrpcpb::KeyError>();
}

Result<TxnStatus> CheckTxnStatus(MvccTxn& txn, std::string_view primary, uint64_t current_ts) {
  auto lock = txn.reader().GetLock(primary);
  if (!lock.ok()) return lock.status();
  TxnStatus out;
  if (lock->has_value() && (*lock)->ts == txn.start_ts()) {
    if ((*lock)->ExpiredAt(current_ts)) {
      RollbackLocked(txn, primary, **lock);
      out.action = kvrpcpb::TTLExpireRollback;
    } else {
      out.lock_ttl = (*lock)->ttl_ms;
    }
    return out;
  }
  auto current = txn.reader().CurrentWrite(primary, txn.start_ts());
  if (!current.ok()) return current.status();
  if (current->has_value()) {
    if ((*current)->write.kind != WriteKind::kRollback) out.commit_ts = (*current)->commit_ts;
    return out;
  }
  txn.PutWrite(primary, txn.start_ts(), Write{WriteKind::kRollback, txn.start_ts()});
  out.action = kvrpcpb::LockNotExistRollback;
  return out;
}

}  // namespace tinykv::txn

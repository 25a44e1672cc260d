#include "txn/mvcc.h"

#include <algorithm>

#include "txn/keys.h"

namespace tinykv::txn {

using storage::Cf;

namespace {

// The user key and ts of a write or default CF key.
Result<DecodedKey> Decode(std::string_view engine_key) { return DecodeKey(engine_key); }

// The write record at the iterator, with its key decoded.
struct WriteAt {
  std::string user_key;
  CommittedWrite cw;
};

Result<WriteAt> ReadWrite(const storage::Iterator& it) {
  auto k = Decode(it.key());
  if (!k.ok()) return k.status();
  auto w = Write::Decode(it.value());
  if (!w.ok()) return w.status();
  return WriteAt{std::move(k->user_key), CommittedWrite{*w, k->ts}};
}

Result<std::optional<std::string>> ValueOf(const storage::Snapshot& snap, std::string_view key,
                                           uint64_t start_ts) {
  auto v = snap.Get(Cf::kDefault, EncodeKey(key, start_ts));
  if (!v.ok()) return v.status();
  if (!v->has_value())
    return Status::Corruption("a committed Put whose value is missing from the default CF");
  return std::move(*v);
}

// Finds the value visible at ts for `key`, with `it` (on the write CF)
// anywhere. Leaves `it` somewhere within or after the key's versions.
Result<std::optional<std::string>> VisibleValue(const storage::Snapshot& snap,
                                                storage::Iterator& it, std::string_view key,
                                                uint64_t ts) {
  for (it.Seek(EncodeKey(key, ts)); it.Valid(); it.Next()) {
    auto w = ReadWrite(it);
    if (!w.ok()) return w.status();
    if (w->user_key != key) break;
    switch (w->cw.write.kind) {
      case WriteKind::kPut:
        return ValueOf(snap, key, w->cw.write.start_ts);
      case WriteKind::kDelete:
        return std::optional<std::string>();
      case WriteKind::kRollback:
      case WriteKind::kLock:
        continue;
    }
  }
  if (!it.status().ok()) return it.status();
  return std::optional<std::string>();
}

}  // namespace

storage::Iterator& MvccReader::WriteIter() const {
  if (!write_it_) write_it_ = snapshot_.NewIterator(Cf::kWrite);
  return *write_it_;
}

Result<std::optional<Lock>> MvccReader::GetLock(std::string_view key) const {
  auto v = snapshot_.Get(Cf::kLock, EncodeUserKey(key));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<Lock>();
  auto lock = Lock::Decode(**v);
  if (!lock.ok()) return lock.status();
  return std::optional<Lock>(std::move(*lock));
}

Result<std::optional<std::string>> MvccReader::GetValue(std::string_view key, uint64_t ts) const {
  return VisibleValue(snapshot_, WriteIter(), key, ts);
}

Result<std::optional<CommittedWrite>> MvccReader::CurrentWrite(std::string_view key,
                                                               uint64_t start_ts) const {
  // A transaction's record sits at its commit ts, which is >= its start ts:
  // look from the newest version down to start_ts.
  storage::Iterator& it = WriteIter();
  for (it.Seek(EncodeKey(key, kTsMax)); it.Valid(); it.Next()) {
    auto w = ReadWrite(it);
    if (!w.ok()) return w.status();
    if (w->user_key != key || w->cw.commit_ts < start_ts) break;
    if (w->cw.write.start_ts == start_ts) return std::optional<CommittedWrite>(w->cw);
  }
  if (!it.status().ok()) return it.status();
  return std::optional<CommittedWrite>();
}

Result<std::optional<CommittedWrite>> MvccReader::MostRecentWrite(std::string_view key) const {
  storage::Iterator& it = WriteIter();
  it.Seek(EncodeKey(key, kTsMax));
  if (!it.Valid()) {
    if (!it.status().ok()) return it.status();
    return std::optional<CommittedWrite>();
  }
  auto w = ReadWrite(it);
  if (!w.ok()) return w.status();
  if (w->user_key != key) return std::optional<CommittedWrite>();
  return std::optional<CommittedWrite>(w->cw);
}

Result<MvccReader::LockScan> MvccReader::LocksOf(uint64_t start_ts, const std::string& lower,
                                                 const std::string& upper, size_t limit) const {
  storage::IterOptions opts;
  if (!upper.empty()) opts.upper_bound = upper;
  auto it = snapshot_.NewIterator(Cf::kLock, opts);
  LockScan out;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    auto lock = Lock::Decode(it->value());
    if (!lock.ok()) return lock.status();
    if (lock->ts != start_ts) continue;
    if (out.locks.size() == limit) {
      out.more = true;
      out.resume = std::string(it->key());
      break;
    }
    auto key = DecodeUserKey(it->key());
    if (!key.ok()) return key.status();
    out.locks.push_back(KeyLock{std::move(*key), std::move(*lock)});
  }
  if (!it->status().ok()) return it->status();
  return out;
}

// ---- MvccTxn ----

void MvccTxn::Touch(std::string_view key) {
  if (std::find(written_.begin(), written_.end(), key) == written_.end())
    written_.emplace_back(key);
}

void MvccTxn::PutLock(std::string_view key, const Lock& lock) {
  Touch(key);
  batch_.Put(Cf::kLock, EncodeUserKey(key), lock.Encode());
}

void MvccTxn::DeleteLock(std::string_view key) {
  Touch(key);
  batch_.Delete(Cf::kLock, EncodeUserKey(key));
}

void MvccTxn::PutValue(std::string_view key, std::string_view value) {
  Touch(key);
  batch_.Put(Cf::kDefault, EncodeKey(key, start_ts_), value);
}

void MvccTxn::DeleteValue(std::string_view key) {
  Touch(key);
  batch_.Delete(Cf::kDefault, EncodeKey(key, start_ts_));
}

void MvccTxn::PutWrite(std::string_view key, uint64_t commit_ts, const Write& write) {
  Touch(key);
  batch_.Put(Cf::kWrite, EncodeKey(key, commit_ts), write.Encode());
}

// ---- Scanner ----

Scanner::Scanner(const storage::Snapshot& snapshot, std::string_view start_key, uint64_t ts,
                 const std::string& lower, const std::string& upper)
    : snapshot_(snapshot), ts_(ts) {
  storage::IterOptions opts;
  if (!upper.empty()) opts.upper_bound = upper;
  lock_it_ = snapshot_.NewIterator(Cf::kLock, opts);
  write_it_ = snapshot_.NewIterator(Cf::kWrite, opts);
  std::string start = std::max(EncodeUserKey(start_key), lower);
  lock_it_->Seek(start);
  write_it_->Seek(start);
}

Result<std::optional<Scanner::Item>> Scanner::Next() {
  while (true) {
    if (!lock_it_->status().ok()) return lock_it_->status();
    if (!write_it_->status().ok()) return write_it_->status();
    if (!lock_it_->Valid() && !write_it_->Valid()) return std::optional<Item>();
    // The next user key: the smaller of the two cursors' encoded keys (a
    // write key is its user key's encoding plus 8 bytes of ts).
    std::string_view lock_key = lock_it_->Valid() ? lock_it_->key() : std::string_view();
    std::string_view write_key;
    if (write_it_->Valid()) {
      if (write_it_->key().size() < 8) return Status::Corruption("short MVCC key");
      write_key = write_it_->key().substr(0, write_it_->key().size() - 8);
    }
    std::string enc;
    if (!lock_it_->Valid()) {
      enc = std::string(write_key);
    } else if (!write_it_->Valid()) {
      enc = std::string(lock_key);
    } else {
      enc = std::string(std::min(lock_key, write_key));
    }
    auto user_key = DecodeUserKey(enc);
    if (!user_key.ok()) return user_key.status();

    std::optional<Item> item;
    bool has_lock = lock_it_->Valid() && lock_key == enc;
    if (has_lock) {
      auto lock = Lock::Decode(lock_it_->value());
      if (!lock.ok()) return lock.status();
      if (lock->ts <= ts_ && lock->kind != WriteKind::kLock) {
        item = Item{*user_key, "", lock->Info(*user_key)};
      }
      lock_it_->Next();
    }
    bool has_write = write_it_->Valid() && write_key == enc;
    if (has_write) {
      if (!item) {
        auto v = VisibleValue(snapshot_, *write_it_, *user_key, ts_);
        if (!v.ok()) return v.status();
        if (v->has_value()) item = Item{*user_key, std::move(**v), std::nullopt};
      }
      // Past every version of this key: ts 0 is its last possible one.
      std::string last = EncodeKey(*user_key, 0);
      write_it_->Seek(last);
      if (write_it_->Valid() && write_it_->key() == last) write_it_->Next();
    }
    if (item) return item;
  }
}

}  // namespace tinykv::txn

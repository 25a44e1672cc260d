#include "storage/mem/mem_engine.h"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "common/check.h"

namespace tinykv::storage {
namespace {

struct Version {
  uint64_t seq;
  std::optional<std::string> value;  // nullopt: a deletion
};
// Ascending by seq, never empty.
using Versions = std::vector<Version>;
using Table = std::map<std::string, Versions, std::less<>>;

// The value of `versions` as of sequence number `seq`, or nullptr.
const std::string* VisibleAt(const Versions& versions, uint64_t seq) {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->seq <= seq) return it->value ? &*it->value : nullptr;
  }
  return nullptr;
}

}  // namespace

namespace internal {

struct MemEngineState {
  mutable std::mutex mu;
  std::array<Table, kNumCfs> tables;
  // Invariant: synced_seq <= last_seq.
  uint64_t last_seq = 0;    // sequence number of the newest write
  uint64_t synced_seq = 0;  // writes up to here are durable
  std::multiset<uint64_t> live_snapshots;
  // Keys whose versions may be collected once the watermark passes them.
  std::set<std::pair<Cf, std::string>> collectable;
  uint64_t collected_at = 0;  // watermark of the last collection

  // Versions at or below the watermark are needed only as the newest one of
  // each key: no snapshot and no crash can look further back.
  uint64_t Watermark() const {
    uint64_t w = synced_seq;
    if (!live_snapshots.empty()) w = std::min(w, *live_snapshots.begin());
    return w;
  }

  void NoteVersions(Cf cf, const std::string& key, const Versions& versions) {
    if (versions.size() > 1 || !versions.back().value) collectable.emplace(cf, key);
  }

  // Records `value` for `key` at `seq` (a later op of the same batch replaces
  // an earlier one).
  void SetVersion(Cf cf, const std::string& key, std::optional<std::string> value, uint64_t seq) {
    Table& table = tables[static_cast<size_t>(cf)];
    auto it = table.find(key);
    if (it == table.end()) {
      if (!value) return;  // deleting a key that never existed
      it = table.emplace(key, Versions{}).first;
    }
    Versions& versions = it->second;
    if (!versions.empty() && versions.back().seq == seq) {
      versions.back().value = std::move(value);
    } else {
      versions.push_back(Version{seq, std::move(value)});
    }
    NoteVersions(cf, key, versions);
  }

  void CollectGarbage() {
    uint64_t watermark = Watermark();
    if (watermark == collected_at) return;
    collected_at = watermark;
    for (auto it = collectable.begin(); it != collectable.end();) {
      Table& table = tables[static_cast<size_t>(it->first)];
      auto entry = table.find(it->second);
      TKV_CHECK(entry != table.end());
      Versions& versions = entry->second;
      // Keep the newest version at or below the watermark and everything above.
      auto first_kept = std::find_if(versions.rbegin(), versions.rend(),
                                     [&](const Version& v) { return v.seq <= watermark; });
      if (first_kept != versions.rend()) {
        versions.erase(versions.begin(), std::prev(first_kept.base()));
      }
      bool only_old_deletion =
          versions.size() == 1 && !versions[0].value && versions[0].seq <= watermark;
      if (only_old_deletion) table.erase(entry);
      if (only_old_deletion || (versions.size() == 1 && versions[0].value)) {
        it = collectable.erase(it);
      } else {
        ++it;
      }
    }
  }
};

}  // namespace internal

namespace {

using State = internal::MemEngineState;

// Keeps a sequence number registered as a live snapshot for as long as a
// Snapshot or any of its iterators exists.
struct SnapshotView {
  std::shared_ptr<State> state;
  uint64_t seq;

  SnapshotView(std::shared_ptr<State> s, uint64_t q) : state(std::move(s)), seq(q) {}
  ~SnapshotView() {
    std::lock_guard lock(state->mu);
    state->live_snapshots.erase(state->live_snapshots.find(seq));
    state->CollectGarbage();
  }
};

class MemIterator final : public Iterator {
 public:
  MemIterator(std::shared_ptr<SnapshotView> view, Cf cf, IterOptions options)
      : view_(std::move(view)), cf_(cf), options_(std::move(options)) {}

  void SeekToFirst() override {
    std::lock_guard lock(view_->state->mu);
    const Table& t = table();
    FindForward(options_.lower_bound ? t.lower_bound(*options_.lower_bound) : t.begin());
  }

  void SeekToLast() override {
    std::lock_guard lock(view_->state->mu);
    const Table& t = table();
    FindBackward(options_.upper_bound ? t.lower_bound(*options_.upper_bound) : t.end());
  }

  void Seek(std::string_view target) override {
    std::lock_guard lock(view_->state->mu);
    if (options_.lower_bound && target < *options_.lower_bound) target = *options_.lower_bound;
    FindForward(table().lower_bound(target));
  }

  void SeekForPrev(std::string_view target) override {
    std::lock_guard lock(view_->state->mu);
    const Table& t = table();
    if (options_.upper_bound && target >= *options_.upper_bound) {
      FindBackward(t.lower_bound(*options_.upper_bound));
    } else {
      FindBackward(t.upper_bound(target));
    }
  }

  void Next() override {
    TKV_CHECK(valid_);
    std::lock_guard lock(view_->state->mu);
    // Re-find by key: the entry we were on may have been collected since.
    FindForward(table().upper_bound(key_));
  }

  void Prev() override {
    TKV_CHECK(valid_);
    std::lock_guard lock(view_->state->mu);
    FindBackward(table().lower_bound(key_));
  }

  bool Valid() const override { return valid_; }
  std::string_view key() const override {
    TKV_CHECK(valid_);
    return key_;
  }
  std::string_view value() const override {
    TKV_CHECK(valid_);
    return value_;
  }
  Status status() const override { return Status::OK(); }

 private:
  const Table& table() const { return view_->state->tables[static_cast<size_t>(cf_)]; }

  // Settles on the first visible entry at or after `it` (REQUIRES: mu held).
  void FindForward(Table::const_iterator it) {
    const Table& t = table();
    for (; it != t.end(); ++it) {
      if (options_.upper_bound && it->first >= *options_.upper_bound) break;
      if (Settle(it)) return;
    }
    valid_ = false;
  }

  // Settles on the last visible entry before `it` (REQUIRES: mu held).
  void FindBackward(Table::const_iterator it) {
    const Table& t = table();
    while (it != t.begin()) {
      --it;
      if (options_.lower_bound && it->first < *options_.lower_bound) break;
      if (Settle(it)) return;
    }
    valid_ = false;
  }

  bool Settle(Table::const_iterator it) {
    const std::string* v = VisibleAt(it->second, view_->seq);
    if (v == nullptr) return false;
    key_ = it->first;
    value_ = *v;
    valid_ = true;
    return true;
  }

  std::shared_ptr<SnapshotView> view_;
  Cf cf_;
  IterOptions options_;
  bool valid_ = false;
  std::string key_;
  std::string value_;
};

class MemSnapshot final : public Snapshot {
 public:
  explicit MemSnapshot(std::shared_ptr<SnapshotView> view) : view_(std::move(view)) {}

  Result<std::optional<std::string>> Get(Cf cf, std::string_view key) const override {
    std::lock_guard lock(view_->state->mu);
    const Table& t = view_->state->tables[static_cast<size_t>(cf)];
    auto it = t.find(key);
    if (it == t.end()) return std::optional<std::string>();
    const std::string* v = VisibleAt(it->second, view_->seq);
    return v ? std::optional<std::string>(*v) : std::nullopt;
  }

  std::unique_ptr<Iterator> NewIterator(Cf cf, const IterOptions& options) const override {
    return std::make_unique<MemIterator>(view_, cf, options);
  }

 private:
  std::shared_ptr<SnapshotView> view_;
};

}  // namespace

MemEngine::MemEngine() : state_(std::make_shared<internal::MemEngineState>()) {}

MemEngine::~MemEngine() {
  std::lock_guard lock(state_->mu);
  TKV_CHECK(state_->live_snapshots.empty(), "MemEngine destroyed with {} live snapshots",
            state_->live_snapshots.size());
}

Status MemEngine::Write(const WriteBatch& batch, const WriteOptions& options) {
  std::lock_guard lock(state_->mu);
  uint64_t seq = ++state_->last_seq;
  for (const WriteBatch::Op& op : batch.ops()) {
    switch (op.type) {
      case WriteBatch::OpType::kPut:
        state_->SetVersion(op.cf, op.key, op.value, seq);
        break;
      case WriteBatch::OpType::kDelete:
        state_->SetVersion(op.cf, op.key, std::nullopt, seq);
        break;
      case WriteBatch::OpType::kDeleteRange:
      case WriteBatch::OpType::kDeleteFrom: {
        Table& table = state_->tables[static_cast<size_t>(op.cf)];
        bool bounded = op.type == WriteBatch::OpType::kDeleteRange;
        std::vector<std::string> doomed;
        for (auto it = table.lower_bound(op.key); it != table.end() && (!bounded || it->first < op.value); ++it) {
          if (VisibleAt(it->second, seq) != nullptr) doomed.push_back(it->first);
        }
        for (const std::string& key : doomed) state_->SetVersion(op.cf, key, std::nullopt, seq);
        break;
      }
    }
  }
  if (options.sync) state_->synced_seq = seq;
  state_->CollectGarbage();
  return Status::OK();
}

Status MemEngine::Sync() {
  std::lock_guard lock(state_->mu);
  state_->synced_seq = state_->last_seq;
  state_->CollectGarbage();
  return Status::OK();
}

std::unique_ptr<Snapshot> MemEngine::NewSnapshot() {
  uint64_t seq;
  {
    std::lock_guard lock(state_->mu);
    seq = state_->last_seq;
    state_->live_snapshots.insert(seq);
  }
  return std::make_unique<MemSnapshot>(std::make_shared<SnapshotView>(state_, seq));
}

Result<std::optional<std::string>> MemEngine::Get(Cf cf, std::string_view key) {
  std::lock_guard lock(state_->mu);
  const Table& t = state_->tables[static_cast<size_t>(cf)];
  auto it = t.find(key);
  if (it == t.end()) return std::optional<std::string>();
  const std::string* v = VisibleAt(it->second, state_->last_seq);
  return v ? std::optional<std::string>(*v) : std::nullopt;
}

void MemEngine::SimulateCrash(size_t keep_unsynced) {
  std::lock_guard lock(state_->mu);
  TKV_CHECK(state_->live_snapshots.empty(), "SimulateCrash with live snapshots");
  uint64_t survivor = std::min(state_->last_seq, state_->synced_seq + keep_unsynced);
  state_->collectable.clear();
  for (Cf cf : kAllCfs) {
    Table& table = state_->tables[static_cast<size_t>(cf)];
    for (auto it = table.begin(); it != table.end();) {
      Versions& versions = it->second;
      while (!versions.empty() && versions.back().seq > survivor) versions.pop_back();
      if (versions.empty()) {
        it = table.erase(it);
      } else {
        state_->NoteVersions(cf, it->first, versions);
        ++it;
      }
    }
  }
  state_->last_seq = survivor;
  state_->synced_seq = survivor;
  state_->collected_at = 0;
  state_->CollectGarbage();
}

size_t MemEngine::UnsyncedWriteCount() const {
  std::lock_guard lock(state_->mu);
  return state_->last_seq - state_->synced_seq;
}

size_t MemEngine::VersionCountForTesting() const {
  std::lock_guard lock(state_->mu);
  size_t n = 0;
  for (const Table& t : state_->tables) {
    for (const auto& [key, versions] : t) n += versions.size();
  }
  return n;
}

}  // namespace tinykv::storage

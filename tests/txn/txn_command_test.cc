// The transactional commands of the TinyKV course's parts 4B and 4C (named
// after the originals), against our encodings, on both backends.
//
// Layout (txn/keys.h): lock CF at Enc(k), default CF at Enc(k)+^start_ts,
// write CF at Enc(k)+^commit_ts; records as txn::Lock / txn::Write encode
// them. Each test seeds the engine directly (or through commands), runs
// commands, and compares the whole of every data column family.
#include <cstdint>
#include <future>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "txn/keys.h"
#include "txn/records.h"
#include "txn_fixture.h"

namespace tinykv::txntest {
namespace {

using server::TxnKv;
using storage::Cf;
using txn::WriteKind;
using Map = std::map<std::string, std::string>;
using Pairs = std::vector<std::pair<std::string, std::string>>;

// A byte string, as the originals spell keys and values ([]byte{3}).
std::string B(std::initializer_list<int> bytes) {
  std::string s;
  for (int c : bytes) s += static_cast<char>(c);
  return s;
}

// The expected (or seeded) contents of the three data column families.
struct Data {
  Map def, lock, write;

  Data& Value(const std::string& key, uint64_t start_ts, const std::string& value) {
    def[txn::EncodeKey(key, start_ts)] = value;
    return *this;
  }
  Data& Write(const std::string& key, uint64_t commit_ts, WriteKind kind, uint64_t start_ts) {
    write[txn::EncodeKey(key, commit_ts)] = txn::Write{kind, start_ts}.Encode();
    return *this;
  }
  Data& Lock(const std::string& key, const std::string& primary, uint64_t ts, uint64_t ttl = 0,
             WriteKind kind = WriteKind::kPut) {
    lock[txn::EncodeUserKey(key)] = txn::Lock{primary, kind, ts, ttl}.Encode();
    return *this;
  }
};

kvrpcpb::Mutation Mut(kvrpcpb::Op op, const std::string& key, const std::string& value = "") {
  kvrpcpb::Mutation m;
  m.set_op(op);
  m.set_key(key);
  m.set_value(value);
  return m;
}
kvrpcpb::Mutation MPut(const std::string& key, const std::string& value) {
  return Mut(kvrpcpb::Put, key, value);
}
kvrpcpb::Mutation MDel(const std::string& key) { return Mut(kvrpcpb::Del, key); }
kvrpcpb::Mutation MLock(const std::string& key) { return Mut(kvrpcpb::Lock, key); }
kvrpcpb::Mutation MRollback(const std::string& key) { return Mut(kvrpcpb::Rollback, key); }

// The (key, value) pairs of a scan, none of them locked.
Pairs PairsOf(const kvrpcpb::ScanResponse& r) {
  Pairs out;
  for (const auto& p : r.pairs()) {
    EXPECT_FALSE(p.has_error()) << p.ShortDebugString();
    out.emplace_back(p.key(), p.value());
  }
  return out;
}

void ExpectLockInfo(const kvrpcpb::KeyError& e, const std::string& key,
                    const std::string& primary, uint64_t version, uint64_t ttl) {
  ASSERT_TRUE(e.has_locked()) << e.ShortDebugString();
  EXPECT_EQ(e.locked().key(), key);
  EXPECT_EQ(e.locked().primary_lock(), primary);
  EXPECT_EQ(e.locked().lock_version(), version);
  EXPECT_EQ(e.locked().lock_ttl(), ttl);
}

// A command issued and not yet waited for (for tests of concurrent commands).
template <typename Request, typename Response>
struct Pending {
  Request req;
  Response resp;
  Status status;
  std::promise<void> finished;
  std::future<void> future = finished.get_future();
};

class TxnTest : public TxnCommandTest {
 protected:
  // The primary of the originals' prewrite requests.
  const std::string kPrimary = B({1});

  void Seed(const Data& d) {
    storage::WriteBatch batch;
    for (const auto& [k, v] : d.def) batch.Put(Cf::kDefault, k, v);
    for (const auto& [k, v] : d.lock) batch.Put(Cf::kLock, k, v);
    for (const auto& [k, v] : d.write) batch.Put(Cf::kWrite, k, v);
    if (!batch.empty()) backend_->Seed(batch);
  }

  void ExpectData(const Data& d) {
    EXPECT_EQ(backend_->Dump(Cf::kDefault), d.def) << "default CF";
    EXPECT_EQ(backend_->Dump(Cf::kLock), d.lock) << "lock CF";
    EXPECT_EQ(backend_->Dump(Cf::kWrite), d.write) << "write CF";
  }
  void ExpectEmpty() { ExpectData(Data{}); }

  // Runs a command; without `st`, expects it to answer OK. Never a region
  // error (Call retries those).
  template <typename Request, typename Response>
  Response Run(void (TxnKv::*handler)(const Request&, Response*, TxnKv::Done), Request req,
               const std::string& route_key, Status* st) {
    Status local;
    Response r = Call(handler, std::move(req), route_key, &local);
    EXPECT_FALSE(r.has_region_error()) << r.ShortDebugString();
    if (st != nullptr) {
      *st = local;
    } else {
      EXPECT_TRUE(local.ok()) << local;
    }
    return r;
  }

  kvrpcpb::GetResponse Get(const std::string& key, uint64_t version, Status* st = nullptr) {
    kvrpcpb::GetRequest req;
    req.set_key(key);
    req.set_version(version);
    return Run(&TxnKv::Get, req, key, st);
  }
  // The value read, "<not found>", or "<locked>".
  std::string GetValue(const std::string& key, uint64_t version) {
    auto r = Get(key, version);
    if (r.has_error()) {
      EXPECT_TRUE(r.error().has_locked()) << r.ShortDebugString();
      return "<locked>";
    }
    if (r.not_found()) {
      EXPECT_EQ(r.value(), "");
      return "<not found>";
    }
    return r.value();
  }

  kvrpcpb::ScanResponse Scan(const std::string& start, uint32_t limit, uint64_t version,
                             Status* st = nullptr) {
    kvrpcpb::ScanRequest req;
    req.set_start_key(start);
    req.set_limit(limit);
    req.set_version(version);
    return Run(&TxnKv::Scan, req, start, st);
  }

  kvrpcpb::PrewriteRequest PrewriteReq(uint64_t start, std::vector<kvrpcpb::Mutation> muts,
                                       uint64_t ttl = 0, std::string primary = "") {
    kvrpcpb::PrewriteRequest req;
    for (auto& m : muts) *req.add_mutations() = std::move(m);
    req.set_primary_lock(primary.empty() ? kPrimary : primary);
    req.set_start_version(start);
    req.set_lock_ttl(ttl);
    return req;
  }
  kvrpcpb::PrewriteResponse Prewrite(uint64_t start, std::vector<kvrpcpb::Mutation> muts,
                                     uint64_t ttl = 0, Status* st = nullptr) {
    auto req = PrewriteReq(start, std::move(muts), ttl);
    std::string route = req.mutations_size() > 0 ? req.mutations(0).key() : kPrimary;
    return Run(&TxnKv::Prewrite, req, route, st);
  }

  kvrpcpb::CommitRequest CommitReq(uint64_t start, uint64_t commit,
                                   const std::vector<std::string>& keys) {
    kvrpcpb::CommitRequest req;
    req.set_start_version(start);
    req.set_commit_version(commit);
    for (const auto& k : keys) req.add_keys(k);
    return req;
  }
  kvrpcpb::CommitResponse Commit(uint64_t start, uint64_t commit,
                                 const std::vector<std::string>& keys, Status* st = nullptr) {
    return Run(&TxnKv::Commit, CommitReq(start, commit, keys), keys.empty() ? "" : keys[0], st);
  }

  kvrpcpb::BatchRollbackRequest RollbackReq(uint64_t start, const std::vector<std::string>& keys) {
    kvrpcpb::BatchRollbackRequest req;
    req.set_start_version(start);
    for (const auto& k : keys) req.add_keys(k);
    return req;
  }
  kvrpcpb::BatchRollbackResponse Rollback(uint64_t start, const std::vector<std::string>& keys,
                                          Status* st = nullptr) {
    return Run(&TxnKv::BatchRollback, RollbackReq(start, keys), keys.empty() ? "" : keys[0], st);
  }

  kvrpcpb::CheckTxnStatusResponse CheckTxnStatus(const std::string& primary, uint64_t lock_ts,
                                                 uint64_t current_ts, Status* st = nullptr) {
    kvrpcpb::CheckTxnStatusRequest req;
    req.set_primary_key(primary);
    req.set_lock_ts(lock_ts);
    req.set_current_ts(current_ts);
    return Run(&TxnKv::CheckTxnStatus, req, primary, st);
  }

  kvrpcpb::ResolveLockResponse Resolve(uint64_t start, uint64_t commit, Status* st = nullptr) {
    kvrpcpb::ResolveLockRequest req;
    req.set_start_version(start);
    req.set_commit_version(commit);
    return Run(&TxnKv::ResolveLock, req, "", st);
  }

  // Issues a command without waiting for it.
  template <typename Request, typename Response>
  std::unique_ptr<Pending<Request, Response>> Start(
      void (TxnKv::*handler)(const Request&, Response*, TxnKv::Done), Request req,
      const std::string& route_key, TxnKv** served_by = nullptr) {
    auto p = std::make_unique<Pending<Request, Response>>();
    p->req = std::move(req);
    TxnKv& kv = backend_->Route(route_key, p->req.mutable_context());
    if (served_by != nullptr) *served_by = &kv;
    auto* raw = p.get();
    (kv.*handler)(raw->req, &raw->resp, [raw](Status s) {
      raw->status = std::move(s);
      raw->finished.set_value();
    });
    return p;
  }
};

// ============================================================================
// 4B: KvGet, KvPrewrite, KvCommit
// ============================================================================

class Txn4BTest : public TxnTest {};

TEST_P(Txn4BTest, PrewriteCommitGet) {
  kvrpcpb::PrewriteRequest pw;
  auto* m = pw.add_mutations();
  m->set_op(kvrpcpb::Put);
  m->set_key("k");
  m->set_value("v");
  pw.set_primary_lock("k");
  pw.set_start_version(100);
  pw.set_lock_ttl(1000);
  auto pwr = Call(&TxnKv::Prewrite, pw, "k");
  ASSERT_EQ(pwr.errors_size(), 0);
  EXPECT_EQ(backend_->Dump(Cf::kLock).size(), 1u);

  kvrpcpb::CommitRequest c;
  c.set_start_version(100);
  c.set_commit_version(110);
  c.add_keys("k");
  auto cr = Call(&TxnKv::Commit, c, "k");
  EXPECT_FALSE(cr.has_error()) << cr.ShortDebugString();
  EXPECT_TRUE(backend_->Dump(Cf::kLock).empty());
  auto writes = backend_->Dump(Cf::kWrite);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes.begin()->first, txn::EncodeKey("k", 110));
  EXPECT_EQ(writes.begin()->second, (txn::Write{txn::WriteKind::kPut, 100}.Encode()));

  kvrpcpb::GetRequest g;
  g.set_key("k");
  g.set_version(120);
  auto gr = Call(&TxnKv::Get, g, "k");
  EXPECT_EQ(gr.value(), "v");
  g.set_version(105);
  EXPECT_TRUE(Call(&TxnKv::Get, g, "k").not_found());
}

// ---- Get ----

// The one committed value of key 99.
Data Committed99() {
  return Data().Value(B({99}), 50, B({42})).Write(B({99}), 54, WriteKind::kPut, 50);
}

TEST_P(Txn4BTest, GetValue4B) {
  Seed(Committed99());
  auto r = Get(B({99}), txn::kTsMax);
  EXPECT_FALSE(r.has_error());
  EXPECT_FALSE(r.not_found());
  EXPECT_EQ(r.value(), B({42}));
  ExpectData(Committed99());
}

TEST_P(Txn4BTest, GetValueTs4B) {
  Seed(Committed99());
  for (int i = 0; i < 3; ++i) {
    auto r = Get(B({99}), 100);
    EXPECT_FALSE(r.has_error());
    EXPECT_FALSE(r.not_found());
    EXPECT_EQ(r.value(), B({42})) << "read " << i;
  }
  ExpectData(Committed99());
}

TEST_P(Txn4BTest, GetEmpty4B) {
  auto r = Get(B({100}), txn::kTsMax);
  EXPECT_FALSE(r.has_error());
  EXPECT_TRUE(r.not_found());
  EXPECT_EQ(r.value(), "");
  ExpectEmpty();
}

TEST_P(Txn4BTest, GetNone4B) {
  Data d = Committed99().Value(B({101}), 50, B({42})).Write(B({101}), 54, WriteKind::kPut, 50);
  Seed(d);
  auto r = Get(B({100}), txn::kTsMax);
  EXPECT_FALSE(r.has_error());
  EXPECT_TRUE(r.not_found());
  ExpectData(d);
}

TEST_P(Txn4BTest, GetVersions4B) {
  Data d = Committed99()
               .Value(B({99}), 60, B({43}))
               .Write(B({99}), 66, WriteKind::kPut, 60)
               .Value(B({99}), 120, B({44}))
               .Write(B({99}), 122, WriteKind::kPut, 120);
  Seed(d);
  EXPECT_EQ(GetValue(B({99}), 40), "<not found>");
  EXPECT_EQ(GetValue(B({99}), 53), "<not found>");
  EXPECT_EQ(GetValue(B({99}), 54), B({42}));
  EXPECT_EQ(GetValue(B({99}), 56), B({42}));
  EXPECT_EQ(GetValue(B({99}), 60), B({42}));
  EXPECT_EQ(GetValue(B({99}), 65), B({42}));
  EXPECT_EQ(GetValue(B({99}), 66), B({43}));
  EXPECT_EQ(GetValue(B({99}), 100), B({43}));
  EXPECT_EQ(GetValue(B({99}), 121), B({43}));
  EXPECT_EQ(GetValue(B({99}), 122), B({44}));
  EXPECT_EQ(GetValue(B({99}), txn::kTsMax), B({44}));
  ExpectData(d);
}

TEST_P(Txn4BTest, GetDeleted4B) {
  Data d = Committed99()
               .Write(B({99}), 66, WriteKind::kDelete, 60)
               .Value(B({99}), 120, B({44}))
               .Write(B({99}), 122, WriteKind::kPut, 120);
  Seed(d);
  EXPECT_EQ(GetValue(B({99}), 54), B({42}));
  EXPECT_EQ(GetValue(B({99}), 60), B({42}));
  EXPECT_EQ(GetValue(B({99}), 65), B({42}));
  EXPECT_EQ(GetValue(B({99}), 66), "<not found>");
  EXPECT_EQ(GetValue(B({99}), 67), "<not found>");
  EXPECT_EQ(GetValue(B({99}), 121), "<not found>");
  EXPECT_EQ(GetValue(B({99}), 122), B({44}));
  ExpectData(d);
}

TEST_P(Txn4BTest, GetLocked4B) {
  Data d = Committed99().Lock(B({99}), B({99}), 200);
  Seed(d);
  // The lock bytes as the original spells them.
  EXPECT_EQ(d.lock.begin()->second, B({99, 1, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0, 0}));

  auto r0 = Get(B({99}), 55);  // the lock is newer than the read
  EXPECT_FALSE(r0.has_error());
  EXPECT_EQ(r0.value(), B({42}));
  EXPECT_EQ(GetValue(B({99}), 199), B({42}));

  for (uint64_t version : {200u, 300u}) {
    auto r = Get(B({99}), version);
    ASSERT_TRUE(r.has_error()) << version;
    ExpectLockInfo(r.error(), B({99}), B({99}), 200, 0);
    EXPECT_EQ(r.value(), "");
    EXPECT_FALSE(r.not_found());
  }
  ExpectData(d);
}

// ---- Prewrite ----

TEST_P(Txn4BTest, EmptyPrewrite4B) {
  auto r = Prewrite(100, {});
  EXPECT_EQ(r.errors_size(), 0);
  ExpectEmpty();
}

TEST_P(Txn4BTest, SinglePrewrite4B) {
  auto r = Prewrite(100, {MPut(B({3}), B({42}))}, 1000);
  EXPECT_EQ(r.errors_size(), 0) << r.ShortDebugString();
  ExpectData(Data().Value(B({3}), 100, B({42})).Lock(B({3}), kPrimary, 100, 1000));
  // Exact bytes: primary {1}, kind Put, ts 100, ttl 1000 (3, 232).
  EXPECT_EQ(backend_->Dump(Cf::kLock),
            (Map{{txn::EncodeUserKey(B({3})),
                  B({1, 1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 3, 232})}}));
}

TEST_P(Txn4BTest, PrewriteLocked4B) {
  auto r0 = Prewrite(100, {MPut(B({3}), B({42}))});
  auto r1 = Prewrite(101, {MPut(B({3}), B({53}))});
  EXPECT_EQ(r0.errors_size(), 0) << r0.ShortDebugString();
  ASSERT_EQ(r1.errors_size(), 1) << r1.ShortDebugString();
  ExpectLockInfo(r1.errors(0), B({3}), kPrimary, 100, 0);
  ExpectData(Data().Value(B({3}), 100, B({42})).Lock(B({3}), kPrimary, 100));
}

TEST_P(Txn4BTest, PrewriteWritten4B) {
  Data d = Data().Value(B({3}), 80, B({5})).Write(B({3}), 101, WriteKind::kPut, 80);
  Seed(d);
  auto r = Prewrite(100, {MPut(B({3}), B({42}))});
  ASSERT_EQ(r.errors_size(), 1) << r.ShortDebugString();
  ASSERT_TRUE(r.errors(0).has_conflict()) << r.ShortDebugString();
  EXPECT_EQ(r.errors(0).conflict().start_ts(), 100u);
  EXPECT_EQ(r.errors(0).conflict().conflict_ts(), 101u);
  EXPECT_EQ(r.errors(0).conflict().key(), B({3}));
  EXPECT_EQ(r.errors(0).conflict().primary(), kPrimary);
  ExpectData(d);
}

TEST_P(Txn4BTest, PrewriteWrittenNoConflict4B) {
  Data d = Data().Value(B({3}), 80, B({5})).Write(B({3}), 90, WriteKind::kPut, 80);
  Seed(d);
  auto r = Prewrite(100, {MPut(B({3}), B({42}))});
  EXPECT_EQ(r.errors_size(), 0) << r.ShortDebugString();
  ExpectData(d.Value(B({3}), 100, B({42})).Lock(B({3}), kPrimary, 100));
}

TEST_P(Txn4BTest, MultiplePrewrites4B) {
  auto r0 = Prewrite(100, {MPut(B({3}), B({42}))});
  auto r1 = Prewrite(101, {MPut(B({4}), B({53}))});
  EXPECT_EQ(r0.errors_size(), 0) << r0.ShortDebugString();
  EXPECT_EQ(r1.errors_size(), 0) << r1.ShortDebugString();
  ExpectData(Data()
                 .Value(B({3}), 100, B({42}))
                 .Lock(B({3}), kPrimary, 100)
                 .Value(B({4}), 101, B({53}))
                 .Lock(B({4}), kPrimary, 101));
}

TEST_P(Txn4BTest, PrewriteOverwrite4B) {
  auto r = Prewrite(100, {MPut(B({3}), B({42})), MPut(B({3}), B({45}))});
  EXPECT_EQ(r.errors_size(), 0) << r.ShortDebugString();
  ExpectData(Data().Value(B({3}), 100, B({45})).Lock(B({3}), kPrimary, 100));
}

TEST_P(Txn4BTest, PrewriteMultiple4B) {
  auto r = Prewrite(100, {MPut(B({3}), B({42})), MPut(B({4}), B({43})), MPut(B({5}), B({44})),
                          MDel(B({4})), MPut(B({4}), B({1, 3, 5})), MPut(B({255}), B({45}))});
  EXPECT_EQ(r.errors_size(), 0) << r.ShortDebugString();
  ExpectData(Data()
                 .Value(B({3}), 100, B({42}))
                 .Value(B({4}), 100, B({1, 3, 5}))
                 .Value(B({5}), 100, B({44}))
                 .Value(B({255}), 100, B({45}))
                 .Lock(B({3}), kPrimary, 100)
                 .Lock(B({4}), kPrimary, 100)
                 .Lock(B({5}), kPrimary, 100)
                 .Lock(B({255}), kPrimary, 100));
}

// ---- Commit ----

// Key 3 prewritten by the transaction started at 100.
Data Prewritten3() {
  return Data().Value(B({3}), 100, B({42})).Lock(B({3}), B({1}), 100);
}

TEST_P(Txn4BTest, EmptyCommit4B) {
  auto r = Commit(100, 110, {});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectEmpty();
}

TEST_P(Txn4BTest, SingleCommit4B) {
  Seed(Prewritten3());
  auto r = Commit(100, 110, {B({3})});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(Data().Value(B({3}), 100, B({42})).Write(B({3}), 110, WriteKind::kPut, 100));
  EXPECT_EQ(backend_->Dump(Cf::kWrite),
            (Map{{txn::EncodeKey(B({3}), 110), B({1, 0, 0, 0, 0, 0, 0, 0, 100})}}));
}

TEST_P(Txn4BTest, CommitOverwrite4B) {
  Data d = Prewritten3().Value(B({3}), 80, B({15})).Write(B({3}), 84, WriteKind::kPut, 80);
  Seed(d);
  auto r = Commit(100, 110, {B({3})});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  d.lock.clear();
  ExpectData(d.Write(B({3}), 110, WriteKind::kPut, 100));
  EXPECT_EQ(GetValue(B({3}), 109), B({15}));
  EXPECT_EQ(GetValue(B({3}), 110), B({42}));
}

TEST_P(Txn4BTest, CommitMultipleKeys4B) {
  const std::string k3 = B({3}), k1240 = B({12, 4, 0}), k15 = B({15});
  // Some committed data, and another prewritten transaction (started at 99).
  Data others = Data()
                    .Value(B({4}), 80, B({15}))
                    .Write(B({4}), 84, WriteKind::kPut, 80)
                    .Value(B({3, 0}), 80, B({150}))
                    .Write(B({3, 0}), 84, WriteKind::kPut, 80)
                    .Value(B({2}), 99, B({0, 0, 0, 8}))
                    .Lock(B({2}), B({2}), 99)
                    .Value(B({43, 6}), 99, B({1, 1, 0, 0, 1, 5}))
                    .Lock(B({43, 6}), B({2}), 99);
  Data d = others;
  d.Value(k3, 100, B({42}))
      .Lock(k3, kPrimary, 100)
      .Value(k1240, 100, B({1, 1, 0, 0, 1, 5}))
      .Lock(k1240, kPrimary, 100)
      .Value(k15, 100, B({0}))
      .Lock(k15, kPrimary, 100);
  Seed(d);
  auto r = Commit(100, 110, {k3, k1240, k15});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  Data want = others;
  want.Value(k3, 100, B({42}))
      .Value(k1240, 100, B({1, 1, 0, 0, 1, 5}))
      .Value(k15, 100, B({0}))
      .Write(k3, 110, WriteKind::kPut, 100)
      .Write(k1240, 110, WriteKind::kPut, 100)
      .Write(k15, 110, WriteKind::kPut, 100);
  ExpectData(want);
  EXPECT_EQ(want.def.size(), 7u);
  EXPECT_EQ(want.lock.size(), 2u);
  EXPECT_EQ(want.write.size(), 5u);
}

TEST_P(Txn4BTest, RecommitKey4B) {
  Seed(Prewritten3());
  auto r = Commit(100, 110, {B({3}), B({3})});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(Data().Value(B({3}), 100, B({42})).Write(B({3}), 110, WriteKind::kPut, 100));
}

TEST_P(Txn4BTest, CommitConflictRollback4B) {
  // The transaction was rolled back (its record at its start ts).
  Data d = Data().Write(B({3}), 100, WriteKind::kRollback, 100);
  Seed(d);
  auto r = Commit(100, 110, {B({3})});
  ASSERT_TRUE(r.has_error());
  EXPECT_NE(r.error().abort(), "") << r.ShortDebugString();
  EXPECT_FALSE(r.error().has_locked());
  ExpectData(d);
}

TEST_P(Txn4BTest, CommitConflictRace4B) {
  // Key 3 is prewritten by another transaction (started at 90).
  Data d = Data().Value(B({3}), 90, B({110})).Lock(B({3}), B({3}), 90);
  Seed(d);
  auto r = Commit(100, 110, {B({3})});
  ASSERT_TRUE(r.has_error());
  EXPECT_NE(r.error().retryable(), "") << r.ShortDebugString();
  EXPECT_EQ(r.error().abort(), "");
  ExpectData(d);
}

TEST_P(Txn4BTest, CommitConflictRepeat4B) {
  Data d = Data().Value(B({3}), 100, B({42})).Write(B({3}), 110, WriteKind::kPut, 100);
  Seed(d);
  auto r = Commit(100, 110, {B({3})});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(d);
}

// Our deviation: a commit with neither lock nor record answers abort "lock
// not found" (the course answers OK, reporting a commit that never happened).
TEST_P(Txn4BTest, CommitMissingPrewrite4B) {
  Data d = Data()
               .Value(B({4}), 80, B({15}))
               .Write(B({4}), 84, WriteKind::kPut, 80)
               .Value(B({3, 0}), 80, B({150}))
               .Write(B({3, 0}), 84, WriteKind::kPut, 80);
  Seed(d);
  auto r = Commit(100, 110, {B({3})});
  ASSERT_TRUE(r.has_error());
  EXPECT_NE(r.error().abort().find("lock not found"), std::string::npos) << r.ShortDebugString();
  ExpectData(d);
}

TINYKV_TXN_BACKENDS(Txn4BTest);

// ============================================================================
// 4C: KvBatchRollback, KvCheckTxnStatus, KvResolveLock, KvScan
// ============================================================================

class Txn4CTest : public TxnTest {};

// ---- Rollback ----

TEST_P(Txn4CTest, EmptyRollback4C) {
  auto r = Rollback(100, {});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectEmpty();
}

TEST_P(Txn4CTest, Rollback4C) {
  Seed(Prewritten3());
  auto r = Rollback(100, {B({3})});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(Data().Write(B({3}), 100, WriteKind::kRollback, 100));
  EXPECT_EQ(backend_->Dump(Cf::kWrite),
            (Map{{txn::EncodeKey(B({3}), 100), B({3, 0, 0, 0, 0, 0, 0, 0, 100})}}));
}

TEST_P(Txn4CTest, RollbackDuplicateKeys4C) {
  Seed(Prewritten3().Value(B({15}), 100, B({0})).Lock(B({15}), B({1}), 100));
  auto r = Rollback(100, {B({3}), B({15}), B({3})});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(Data()
                 .Write(B({3}), 100, WriteKind::kRollback, 100)
                 .Write(B({15}), 100, WriteKind::kRollback, 100));
}

TEST_P(Txn4CTest, RollbackMissingPrewrite4C) {
  auto r = Rollback(100, {B({3})});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(Data().Write(B({3}), 100, WriteKind::kRollback, 100));
}

TEST_P(Txn4CTest, RollbackCommitted4C) {
  Data d = Data().Value(B({3}), 100, B({42})).Write(B({3}), 110, WriteKind::kPut, 100);
  Seed(d);
  auto r = Rollback(100, {B({3})});
  ASSERT_TRUE(r.has_error());
  EXPECT_NE(r.error().abort(), "") << r.ShortDebugString();
  ExpectData(d);
}

TEST_P(Txn4CTest, RollbackDuplicate4C) {
  Data d = Data().Write(B({3}), 100, WriteKind::kRollback, 100);
  Seed(d);
  auto r = Rollback(100, {B({3})});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(d);
}

TEST_P(Txn4CTest, RollbackOtherTxn4C) {
  Data d = Data().Value(B({3}), 80, B({42})).Lock(B({3}), B({1}), 80);
  Seed(d);
  auto r = Rollback(100, {B({3})});
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(d.Write(B({3}), 100, WriteKind::kRollback, 100));
}

// ---- CheckTxnStatus ----
// Lock ts at physical 5000 ms; the TTL counts physical ms from there.

const uint64_t kLockTs = txn::ComposeTs(5000, 100);

TEST_P(Txn4CTest, CheckTxnStatusTtlExpired4C) {
  Seed(Data().Value(B({3}), kLockTs, B({42})).Lock(B({3}), B({3}), kLockTs, 8));
  auto r = CheckTxnStatus(B({3}), kLockTs, txn::ComposeTs(6000, 100));
  EXPECT_EQ(r.action(), kvrpcpb::TTLExpireRollback);
  EXPECT_EQ(r.lock_ttl(), 0u);
  EXPECT_EQ(r.commit_version(), 0u);
  ExpectData(Data().Write(B({3}), kLockTs, WriteKind::kRollback, kLockTs));
}

TEST_P(Txn4CTest, CheckTxnStatusTtlNotExpired4C) {
  Data d = Data().Value(B({3}), kLockTs, B({42})).Lock(B({3}), B({3}), kLockTs, 100'000);
  Seed(d);
  auto r = CheckTxnStatus(B({3}), kLockTs, txn::ComposeTs(6000, 100));
  EXPECT_EQ(r.action(), kvrpcpb::NoAction);
  EXPECT_EQ(r.lock_ttl(), 100'000u);
  EXPECT_EQ(r.commit_version(), 0u);
  ExpectData(d);
}

TEST_P(Txn4CTest, CheckTxnStatusRolledBack4C) {
  // Rolled back; the key is now locked by a later transaction.
  const uint64_t later = txn::ComposeTs(8000, 100);
  Data d = Data()
               .Value(B({3}), kLockTs, B({42}))
               .Write(B({3}), kLockTs, WriteKind::kRollback, kLockTs)
               .Lock(B({3}), B({3}), later, 8);
  Seed(d);
  auto r = CheckTxnStatus(B({3}), kLockTs, txn::ComposeTs(6000, 100));
  EXPECT_EQ(r.action(), kvrpcpb::NoAction);
  EXPECT_EQ(r.lock_ttl(), 0u);
  EXPECT_EQ(r.commit_version(), 0u);
  ExpectData(d);
}

TEST_P(Txn4CTest, CheckTxnStatusCommitted4C) {
  const uint64_t commit_ts = txn::ComposeTs(5001, 7);
  Data d = Data().Value(B({3}), kLockTs, B({42})).Write(B({3}), commit_ts, WriteKind::kPut, kLockTs);
  Seed(d);
  auto r = CheckTxnStatus(B({3}), kLockTs, txn::ComposeTs(6000, 100));
  EXPECT_EQ(r.action(), kvrpcpb::NoAction);
  EXPECT_EQ(r.lock_ttl(), 0u);
  EXPECT_EQ(r.commit_version(), commit_ts);
  ExpectData(d);
}

TEST_P(Txn4CTest, CheckTxnStatusNoLockNoWrite4C) {
  auto r = CheckTxnStatus(B({3}), kLockTs, txn::ComposeTs(6000, 100));
  EXPECT_EQ(r.action(), kvrpcpb::LockNotExistRollback);
  EXPECT_EQ(r.lock_ttl(), 0u);
  EXPECT_EQ(r.commit_version(), 0u);
  ExpectData(Data().Write(B({3}), kLockTs, WriteKind::kRollback, kLockTs));
}

// ---- ResolveLock ----

// Keys 3 and 7 locked by the transaction started at 100, 200 by the one at 110.
Data ResolveSeed() {
  return Data()
      .Value(B({3}), 100, B({42}))
      .Lock(B({3}), B({3}), 100)
      .Value(B({7}), 100, B({43}))
      .Lock(B({7}), B({3}), 100)
      .Value(B({200}), 110, B({44}))
      .Lock(B({200}), B({200}), 110);
}

TEST_P(Txn4CTest, EmptyResolve4C) {
  auto r = Resolve(0, 0);
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectEmpty();
}

TEST_P(Txn4CTest, ResolveCommit4C) {
  Seed(ResolveSeed());
  auto r = Resolve(100, 120);
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(Data()
                 .Value(B({3}), 100, B({42}))
                 .Write(B({3}), 120, WriteKind::kPut, 100)
                 .Value(B({7}), 100, B({43}))
                 .Write(B({7}), 120, WriteKind::kPut, 100)
                 .Value(B({200}), 110, B({44}))
                 .Lock(B({200}), B({200}), 110));
}

TEST_P(Txn4CTest, ResolveRollback4C) {
  Seed(ResolveSeed());
  auto r = Resolve(100, 0);
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(Data()
                 .Write(B({3}), 100, WriteKind::kRollback, 100)
                 .Write(B({7}), 100, WriteKind::kRollback, 100)
                 .Value(B({200}), 110, B({44}))
                 .Lock(B({200}), B({200}), 110));
}

// Transaction 100's keys are already resolved (3 committed, 7 rolled back,
// 201 both as in the original); only another transaction's lock is left.
Data ResolvedSeed() {
  return Data()
      .Value(B({3}), 100, B({42}))
      .Write(B({3}), 120, WriteKind::kPut, 100)
      .Write(B({7}), 100, WriteKind::kRollback, 100)
      .Write(B({201}), 120, WriteKind::kPut, 100)
      .Write(B({201}), 100, WriteKind::kRollback, 100)
      .Value(B({200}), 110, B({44}))
      .Lock(B({200}), B({200}), 110);
}

TEST_P(Txn4CTest, ResolveCommitWritten4C) {
  Seed(ResolvedSeed());
  auto r = Resolve(100, 120);
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(ResolvedSeed());
}

TEST_P(Txn4CTest, ResolveRollbackWritten4C) {
  Seed(ResolvedSeed());
  auto r = Resolve(100, 0);
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();
  ExpectData(ResolvedSeed());
}

// ---- Scan ----

Data ScanSeed() {
  Data d;
  auto put = [&d](const std::string& k, uint64_t start, uint64_t commit, const std::string& v) {
    d.Value(k, start, v).Write(k, commit, WriteKind::kPut, start);
  };
  // Committed before 100.
  put(B({1}), 80, 99, B({50}));
  put(B({1, 23}), 80, 99, B({55}));
  put(B({3}), 80, 99, B({51}));
  put(B({3, 45}), 80, 99, B({56}));
  put(B({3, 46}), 80, 99, B({57}));
  put(B({3, 47}), 80, 99, B({58}));
  put(B({3, 48}), 80, 99, B({59}));
  put(B({4}), 80, 99, B({52}));
  put(B({120}), 80, 99, B({53}));
  put(B({199}), 80, 99, B({54}));
  // Committed after 100.
  put(B({4, 45}), 110, 116, B({58}));
  put(B({4, 46}), 110, 116, B({57}));
  put(B({4, 47}), 110, 116, B({58}));
  put(B({4, 48}), 110, 116, B({59}));
  // Committed after 100, started before.
  put(B({5, 45}), 97, 101, B({60}));
  put(B({5, 46}), 97, 101, B({61}));
  put(B({5, 47}), 97, 101, B({62}));
  put(B({5, 48}), 97, 101, B({63}));
  // Deleted and replaced.
  put(B({150}), 80, 99, B({42}));
  d.Write(B({150}), 101, WriteKind::kDelete, 97);
  put(B({150}), 110, 116, B({64}));
  return d;
}

TEST_P(Txn4CTest, ScanEmpty4C) {
  Seed(ScanSeed());
  auto r = Scan(B({200}), 10000, 100);
  EXPECT_EQ(r.pairs_size(), 0) << r.ShortDebugString();
}

TEST_P(Txn4CTest, ScanLimitZero4C) {
  Seed(ScanSeed());
  auto r = Scan(B({3}), 0, 100);
  EXPECT_EQ(r.pairs_size(), 0) << r.ShortDebugString();
}

TEST_P(Txn4CTest, ScanAll4C) {
  Seed(ScanSeed());
  auto r = Scan(B({0}), 10000, 100);
  EXPECT_EQ(PairsOf(r), (Pairs{{B({1}), B({50})},
                               {B({1, 23}), B({55})},
                               {B({3}), B({51})},
                               {B({3, 45}), B({56})},
                               {B({3, 46}), B({57})},
                               {B({3, 47}), B({58})},
                               {B({3, 48}), B({59})},
                               {B({4}), B({52})},
                               {B({120}), B({53})},
                               {B({150}), B({42})},
                               {B({199}), B({54})}}));
  ExpectData(ScanSeed());
}

TEST_P(Txn4CTest, ScanLimit4C) {
  Seed(ScanSeed());
  auto r = Scan(B({2}), 6, 100);
  EXPECT_EQ(PairsOf(r), (Pairs{{B({3}), B({51})},
                               {B({3, 45}), B({56})},
                               {B({3, 46}), B({57})},
                               {B({3, 47}), B({58})},
                               {B({3, 48}), B({59})},
                               {B({4}), B({52})}}));
}

TEST_P(Txn4CTest, ScanDeleted4C) {
  Seed(ScanSeed());
  EXPECT_EQ(PairsOf(Scan(B({100}), 10000, 100)),
            (Pairs{{B({120}), B({53})}, {B({150}), B({42})}, {B({199}), B({54})}}));
  EXPECT_EQ(PairsOf(Scan(B({100}), 10000, 105)), (Pairs{{B({120}), B({53})}, {B({199}), B({54})}}));
  EXPECT_EQ(PairsOf(Scan(B({100}), 10000, 120)),
            (Pairs{{B({120}), B({53})}, {B({150}), B({64})}, {B({199}), B({54})}}));
}

TINYKV_TXN_BACKENDS(Txn4CTest);

// ============================================================================
// Bad input: Status kInvalidArgument (nothing done), or a KeyError
// ============================================================================

class TxnBadInputTest : public TxnTest {};

const std::string kMaxKey(4096, 'k');
const std::string kLongKey(4097, 'k');

TEST_P(TxnBadInputTest, GetEmptyOrOverlongKey) {
  Status st;
  Get("", 100, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  Get(kLongKey, 100, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  auto r = Get(kMaxKey, 100, &st);  // at the limit: fine
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_TRUE(r.not_found());
}

TEST_P(TxnBadInputTest, PrewriteEmptyKey) {
  Status st;
  Prewrite(100, {MPut("a", "1"), MPut("", "v")}, 0, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  ExpectEmpty();
}

TEST_P(TxnBadInputTest, PrewriteKeyOverMaxKeySize) {
  Status st;
  Prewrite(100, {MPut("a", "1"), MPut(kLongKey, "v")}, 0, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  ExpectEmpty();

  // A key of exactly max-key-size is fine.
  auto r = Prewrite(100, {MPut(kMaxKey, "v")}, 0, &st);
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(r.errors_size(), 0) << r.ShortDebugString();
  ExpectData(Data().Value(kMaxKey, 100, "v").Lock(kMaxKey, kPrimary, 100));
}

TEST_P(TxnBadInputTest, PrewriteEmptyOrOverlongPrimary) {
  for (const std::string& primary : {std::string(), kLongKey}) {
    auto req = PrewriteReq(100, {MPut("a", "1")}, 0, "x");
    req.set_primary_lock(primary);
    Status st;
    Run(&TxnKv::Prewrite, req, "a", &st);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  }
  ExpectEmpty();
}

TEST_P(TxnBadInputTest, PrewriteValueOverMaxValueSize) {
  Status st;
  Prewrite(100, {MPut("a", std::string((8u << 20) + 1, 'v'))}, 0, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  ExpectEmpty();
}

TEST_P(TxnBadInputTest, PrewriteOverMaxBatchKeys) {
  std::vector<kvrpcpb::Mutation> muts;
  for (int i = 0; i < 4097; ++i) muts.push_back(MPut("m" + std::to_string(i), "v"));
  Status st;
  Prewrite(100, std::move(muts), 0, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  ExpectEmpty();
}

// Op Rollback cannot be prewritten: a KeyError abort, and the whole
// prewrite (also its valid mutations) writes nothing.
TEST_P(TxnBadInputTest, PrewriteRollbackOp) {
  Status st;
  auto r = Prewrite(100, {MPut("a", "1"), MRollback("b")}, 0, &st);
  EXPECT_TRUE(st.ok()) << st;
  ASSERT_EQ(r.errors_size(), 1) << r.ShortDebugString();
  EXPECT_NE(r.errors(0).abort(), "") << r.ShortDebugString();
  ExpectEmpty();
}

TEST_P(TxnBadInputTest, CommitVersionNotAfterStart) {
  Seed(Prewritten3());
  for (uint64_t commit : {100u, 90u, 0u}) {
    Status st;
    Commit(100, commit, {B({3})}, &st);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << commit << ": " << st;
  }
  ExpectData(Prewritten3());
}

TEST_P(TxnBadInputTest, CommitBadKeys) {
  Seed(Prewritten3());
  Status st;
  Commit(100, 110, {B({3}), ""}, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  Commit(100, 110, {B({3}), kLongKey}, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  // Over max-batch-keys (4096).
  std::vector<std::string> many(4097, B({3}));
  Commit(100, 110, many, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  ExpectData(Prewritten3());
}

TEST_P(TxnBadInputTest, RollbackAndCheckTxnStatusBadKeys) {
  Status st;
  Rollback(100, {"a", ""}, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  Rollback(100, {kLongKey}, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  CheckTxnStatus("", 100, 200, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  CheckTxnStatus(kLongKey, 100, 200, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  ExpectEmpty();  // not even a rollback record
}

TEST_P(TxnBadInputTest, ResolveCommitVersionNotAfterStart) {
  Seed(ResolveSeed());
  for (uint64_t commit : {100u, 50u}) {
    Status st;
    Resolve(100, commit, &st);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << commit << ": " << st;
  }
  ExpectData(ResolveSeed());
}

TEST_P(TxnBadInputTest, ScanOverlongStartKeyOrLimit) {
  Seed(ScanSeed());
  Status st;
  Scan(kLongKey, 10, 100, &st);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  auto r = Scan(B({0}), 10001, 100, &st);  // over max-scan-limit
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st;
  EXPECT_EQ(r.pairs_size(), 0);
  r = Scan(B({0}), 10000, 100, &st);  // at it: fine
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(r.pairs_size(), 11);
}

TINYKV_TXN_BACKENDS(TxnBadInputTest);

// ============================================================================
// Transactions end to end: Del and Lock mutations, retries, TTLs
// ============================================================================

class TxnLifecycleTest : public TxnTest {};

TEST_P(TxnLifecycleTest, DeleteAndLockMutations) {
  Data d = Data()
               .Value("a", 80, "va")
               .Write("a", 90, WriteKind::kPut, 80)
               .Value("b", 80, "vb")
               .Write("b", 90, WriteKind::kPut, 80);
  Seed(d);
  auto p = Prewrite(100, {MDel("a"), MLock("b")}, 50);
  EXPECT_EQ(p.errors_size(), 0) << p.ShortDebugString();
  // No values staged; locks of kinds Delete and Lock.
  Data locked = d;
  locked.Lock("a", kPrimary, 100, 50, WriteKind::kDelete).Lock("b", kPrimary, 100, 50, WriteKind::kLock);
  ExpectData(locked);
  // A Delete lock blocks a later read; a Lock lock does not.
  auto ga = Get("a", 105);
  ASSERT_TRUE(ga.has_error());
  ExpectLockInfo(ga.error(), "a", kPrimary, 100, 50);
  EXPECT_EQ(GetValue("b", 105), "vb");

  auto c = Commit(100, 110, {"a", "b"});
  EXPECT_FALSE(c.has_error()) << c.ShortDebugString();
  ExpectData(Data(d).Write("a", 110, WriteKind::kDelete, 100).Write("b", 110, WriteKind::kLock, 100));
  EXPECT_EQ(GetValue("a", 109), "va");
  EXPECT_EQ(GetValue("a", 120), "<not found>");
  EXPECT_EQ(GetValue("b", 120), "vb");  // readers look past a Lock record
  EXPECT_EQ(PairsOf(Scan("", 10, 120)), (Pairs{{"b", "vb"}}));
}

TEST_P(TxnLifecycleTest, RetriedPrewriteRewritesOwnLock) {
  auto r0 = Prewrite(100, {MPut("a", "1")}, 10);
  EXPECT_EQ(r0.errors_size(), 0) << r0.ShortDebugString();
  auto r1 = Prewrite(100, {MPut("a", "2")}, 20);
  EXPECT_EQ(r1.errors_size(), 0) << r1.ShortDebugString();
  ExpectData(Data().Value("a", 100, "2").Lock("a", kPrimary, 100, 20));
}

// An empty value is a value: found, not "not found".
TEST_P(TxnLifecycleTest, EmptyValueIsAValue) {
  auto p = Prewrite(100, {MPut("e", ""), MPut("f", "x")});
  EXPECT_EQ(p.errors_size(), 0) << p.ShortDebugString();
  auto c = Commit(100, 110, {"e", "f"});
  EXPECT_FALSE(c.has_error()) << c.ShortDebugString();
  ExpectData(Data()
                 .Value("e", 100, "")
                 .Value("f", 100, "x")
                 .Write("e", 110, WriteKind::kPut, 100)
                 .Write("f", 110, WriteKind::kPut, 100));
  auto g = Get("e", 120);
  EXPECT_FALSE(g.has_error());
  EXPECT_FALSE(g.not_found());
  EXPECT_EQ(g.value(), "");
  EXPECT_EQ(PairsOf(Scan("", 10, 120)), (Pairs{{"e", ""}, {"f", "x"}}));
}

// A rollback record stops a late prewrite of the rolled-back transaction.
TEST_P(TxnLifecycleTest, LatePrewriteAfterRollbackConflicts) {
  auto rb = Rollback(100, {"a"});
  EXPECT_FALSE(rb.has_error()) << rb.ShortDebugString();
  auto p = Prewrite(100, {MPut("a", "1")});
  ASSERT_EQ(p.errors_size(), 1) << p.ShortDebugString();
  ASSERT_TRUE(p.errors(0).has_conflict());
  EXPECT_EQ(p.errors(0).conflict().conflict_ts(), 100u);
  EXPECT_EQ(p.errors(0).conflict().start_ts(), 100u);
  ExpectData(Data().Write("a", 100, WriteKind::kRollback, 100));
}

TEST_P(TxnLifecycleTest, CheckTxnStatusTtlBoundary) {
  Data d = Data().Value("p", kLockTs, "v").Lock("p", "p", kLockTs, 8);
  Seed(d);
  // A current ts before the lock's (a skewed client clock): live.
  auto r = CheckTxnStatus("p", kLockTs, txn::ComposeTs(10, 0));
  EXPECT_EQ(r.action(), kvrpcpb::NoAction);
  EXPECT_EQ(r.lock_ttl(), 8u);
  // Live until physical 5000 + 8.
  r = CheckTxnStatus("p", kLockTs, txn::ComposeTs(5007, (1 << 18) - 1));
  EXPECT_EQ(r.action(), kvrpcpb::NoAction);
  EXPECT_EQ(r.lock_ttl(), 8u);
  ExpectData(d);
  r = CheckTxnStatus("p", kLockTs, txn::ComposeTs(5008, 0));
  EXPECT_EQ(r.action(), kvrpcpb::TTLExpireRollback);
  EXPECT_EQ(r.lock_ttl(), 0u);
  ExpectData(Data().Write("p", kLockTs, WriteKind::kRollback, kLockTs));
  // Asked again: rolled back, nothing more to do.
  r = CheckTxnStatus("p", kLockTs, txn::ComposeTs(5009, 0));
  EXPECT_EQ(r.action(), kvrpcpb::NoAction);
  EXPECT_EQ(r.commit_version(), 0u);
  EXPECT_EQ(r.lock_ttl(), 0u);
  ExpectData(Data().Write("p", kLockTs, WriteKind::kRollback, kLockTs));
}

// A TTL so large that lock ts + ttl passes 2^64 ms must never expire.
TEST_P(TxnLifecycleTest, CheckTxnStatusHugeTtlNeverExpires) {
  Data d = Data().Value("p", kLockTs, "v").Lock("p", "p", kLockTs, UINT64_MAX);
  Seed(d);
  auto r = CheckTxnStatus("p", kLockTs, txn::ComposeTs(6000, 0));
  EXPECT_EQ(r.action(), kvrpcpb::NoAction);
  EXPECT_EQ(r.lock_ttl(), UINT64_MAX);
  ExpectData(d);
}

// The primary is locked by another transaction, and the one asked about
// left no record: roll it back, and leave the other lock alone.
TEST_P(TxnLifecycleTest, CheckTxnStatusOtherTxnLock) {
  const uint64_t other = txn::ComposeTs(4000, 1);
  Data d = Data().Value("p", other, "v").Lock("p", "p", other, 1);
  Seed(d);
  auto r = CheckTxnStatus("p", kLockTs, txn::ComposeTs(9000, 0));
  EXPECT_EQ(r.action(), kvrpcpb::LockNotExistRollback);
  EXPECT_EQ(r.lock_ttl(), 0u);
  ExpectData(d.Write("p", kLockTs, WriteKind::kRollback, kLockTs));
}

// An expired primary is rolled back by CheckTxnStatus; the transaction can
// no longer commit, and resolving its locks rolls back the rest.
TEST_P(TxnLifecycleTest, PrimaryExpiresThenCommitAborts) {
  kvrpcpb::PrewriteRequest req = PrewriteReq(kLockTs, {MPut("p", "1"), MPut("s", "2")}, 10, "p");
  auto p = Run(&TxnKv::Prewrite, req, "p", nullptr);
  EXPECT_EQ(p.errors_size(), 0) << p.ShortDebugString();
  auto st = CheckTxnStatus("p", kLockTs, txn::ComposeTs(5010, 0));
  EXPECT_EQ(st.action(), kvrpcpb::TTLExpireRollback);
  // The primary is decided: its commit now fails; the secondary still holds
  // its lock until resolved.
  auto c = Commit(kLockTs, txn::ComposeTs(5011, 0), {"p"});
  ASSERT_TRUE(c.has_error());
  EXPECT_NE(c.error().abort(), "") << c.ShortDebugString();
  ExpectData(Data()
                 .Write("p", kLockTs, WriteKind::kRollback, kLockTs)
                 .Value("s", kLockTs, "2")
                 .Lock("s", "p", kLockTs, 10));
  auto rs = Resolve(kLockTs, 0);
  EXPECT_FALSE(rs.has_error()) << rs.ShortDebugString();
  ExpectData(Data()
                 .Write("p", kLockTs, WriteKind::kRollback, kLockTs)
                 .Write("s", kLockTs, WriteKind::kRollback, kLockTs));
}

TINYKV_TXN_BACKENDS(TxnLifecycleTest);

// ============================================================================
// KvScan: locks, limits, deletes
// ============================================================================

class TxnScanTest : public TxnTest {};

TEST_P(TxnScanTest, ScanAcrossLockOnlyKey) {
  Data d = Data()
               .Value("a", 80, "va")
               .Write("a", 90, WriteKind::kPut, 80)
               // b: only a lock (and its value), of a transaction at 100.
               .Value("b", 100, "vb")
               .Lock("b", "a", 100, 5)
               .Value("c", 80, "vc")
               .Write("c", 90, WriteKind::kPut, 80)
               // d: only a lock of kind Lock: no value to hide.
               .Lock("d", "a", 100, 5, WriteKind::kLock)
               // e: committed, and locked with kind Lock: readable.
               .Value("e", 80, "ve")
               .Write("e", 90, WriteKind::kPut, 80)
               .Lock("e", "a", 100, 5, WriteKind::kLock)
               // f: committed, and locked for a Delete: hidden from 100 on.
               .Value("f", 80, "vf")
               .Write("f", 90, WriteKind::kPut, 80)
               .Lock("f", "a", 100, 5, WriteKind::kDelete);
  Seed(d);

  auto r = Scan("", 10, 150);
  ASSERT_EQ(r.pairs_size(), 5) << r.ShortDebugString();
  EXPECT_EQ(r.pairs(0).key(), "a");
  EXPECT_EQ(r.pairs(0).value(), "va");
  EXPECT_FALSE(r.pairs(0).has_error());
  EXPECT_EQ(r.pairs(1).key(), "b");
  EXPECT_EQ(r.pairs(1).value(), "");
  ExpectLockInfo(r.pairs(1).error(), "b", "a", 100, 5);
  EXPECT_EQ(r.pairs(2).key(), "c");
  EXPECT_EQ(r.pairs(2).value(), "vc");
  EXPECT_FALSE(r.pairs(2).has_error());
  EXPECT_EQ(r.pairs(3).key(), "e");
  EXPECT_EQ(r.pairs(3).value(), "ve");
  EXPECT_FALSE(r.pairs(3).has_error());
  EXPECT_EQ(r.pairs(4).key(), "f");
  ExpectLockInfo(r.pairs(4).error(), "f", "a", 100, 5);

  // Before the locks: they hide nothing, and b has no value yet.
  EXPECT_EQ(PairsOf(Scan("", 10, 95)), (Pairs{{"a", "va"}, {"c", "vc"}, {"e", "ve"}, {"f", "vf"}}));

  // A locked key counts towards the limit.
  r = Scan("b", 2, 150);
  ASSERT_EQ(r.pairs_size(), 2) << r.ShortDebugString();
  EXPECT_EQ(r.pairs(0).key(), "b");
  EXPECT_TRUE(r.pairs(0).has_error());
  EXPECT_EQ(r.pairs(1).key(), "c");
  EXPECT_EQ(r.pairs(1).value(), "vc");

  // Starting at the lock-only key of kind Lock.
  r = Scan("d", 1, 150);
  ASSERT_EQ(r.pairs_size(), 1) << r.ShortDebugString();
  EXPECT_EQ(r.pairs(0).key(), "e");
  EXPECT_EQ(r.pairs(0).value(), "ve");
  ExpectData(d);
}

TEST_P(TxnScanTest, ScanLimitSkipsDeletes) {
  Data d;
  for (const char* k : {"k1", "k2", "k3", "k4", "k5", "k6"}) {
    d.Value(k, 80, std::string("v") + k).Write(k, 90, WriteKind::kPut, 80);
  }
  d.Write("k2", 95, WriteKind::kDelete, 93).Write("k4", 95, WriteKind::kDelete, 93);
  // k5: a newer rollback record and a newer Lock record are looked past.
  d.Write("k5", 97, WriteKind::kRollback, 97).Write("k5", 98, WriteKind::kLock, 96);
  Seed(d);
  EXPECT_EQ(PairsOf(Scan("k1", 3, 100)), (Pairs{{"k1", "vk1"}, {"k3", "vk3"}, {"k5", "vk5"}}));
  EXPECT_EQ(PairsOf(Scan("k1", 3, 94)), (Pairs{{"k1", "vk1"}, {"k2", "vk2"}, {"k3", "vk3"}}));
  EXPECT_EQ(PairsOf(Scan("k2", 1, 100)), (Pairs{{"k3", "vk3"}}));
  EXPECT_EQ(PairsOf(Scan("k4", 10, 100)), (Pairs{{"k5", "vk5"}, {"k6", "vk6"}}));
  EXPECT_EQ(PairsOf(Scan("k0", 10, 89)), Pairs{});
  EXPECT_EQ(PairsOf(Scan("k7", 10, 100)), Pairs{});
  ExpectData(d);
}

// User keys come back in bytewise order across the encoding's 8-byte
// groups, with 0x00 and 0xFF bytes.
TEST_P(TxnScanTest, ScanOrderAcrossEncodingGroups) {
  const std::string nul(1, '\0'), ff(1, '\xff');
  std::vector<std::string> keys = {"abcdefgh" + ff,  "abcdefg",         "abcdefgh" + nul + nul,
                                   "abcdefgi",       "abcdefgh",        ff,
                                   "abcdefgh" + nul, "abcdefg" + nul,   nul};
  std::vector<kvrpcpb::Mutation> muts;
  for (const auto& k : keys) muts.push_back(MPut(k, "v" + k));
  auto p = Prewrite(100, std::move(muts));
  EXPECT_EQ(p.errors_size(), 0) << p.ShortDebugString();
  auto c = Commit(100, 110, keys);
  EXPECT_FALSE(c.has_error()) << c.ShortDebugString();
  Pairs want;
  for (const auto& k : std::vector<std::string>{nul, "abcdefg", "abcdefg" + nul, "abcdefgh",
                                                "abcdefgh" + nul, "abcdefgh" + nul + nul,
                                                "abcdefgh" + ff, "abcdefgi", ff}) {
    want.emplace_back(k, "v" + k);
  }
  EXPECT_EQ(PairsOf(Scan("", 100, 120)), want);
  // From a key between two others, and with a limit.
  EXPECT_EQ(PairsOf(Scan("abcdefgh" + nul + "x", 2, 120)),
            (Pairs{want[6], want[7]}));
  EXPECT_EQ(PairsOf(Scan("abcdefgh", 1, 120)), (Pairs{want[3]}));
}

// Keys written by commands, then one deleted by a later transaction.
TEST_P(TxnScanTest, ScanAfterCommittedTransactions) {
  auto p = Prewrite(100, {MPut("x1", "a"), MPut("x2", "b"), MPut("x3", "c")});
  EXPECT_EQ(p.errors_size(), 0) << p.ShortDebugString();
  auto c = Commit(100, 110, {"x1", "x2", "x3"});
  EXPECT_FALSE(c.has_error()) << c.ShortDebugString();
  p = Prewrite(120, {MDel("x2"), MPut("x3", "C")});
  EXPECT_EQ(p.errors_size(), 0) << p.ShortDebugString();
  c = Commit(120, 130, {"x2", "x3"});
  EXPECT_FALSE(c.has_error()) << c.ShortDebugString();
  EXPECT_EQ(PairsOf(Scan("x", 10, 105)), Pairs{});
  EXPECT_EQ(PairsOf(Scan("x", 10, 115)), (Pairs{{"x1", "a"}, {"x2", "b"}, {"x3", "c"}}));
  EXPECT_EQ(PairsOf(Scan("x", 10, 135)), (Pairs{{"x1", "a"}, {"x3", "C"}}));
}

TINYKV_TXN_BACKENDS(TxnScanTest);

// ============================================================================
// KvResolveLock over more locks than one write resolves (resolve-batch-keys)
// ============================================================================

class TxnResolveTest : public TxnTest {};

TEST_P(TxnResolveTest, ResolveMoreLocksThanOneBatch) {
  constexpr int kKeys = 300;  // > resolve_batch_keys (256)
  auto key = [](int i) {
    std::string n = std::to_string(i);
    return "r" + std::string(3 - n.size(), '0') + n;
  };
  std::vector<kvrpcpb::Mutation> muts;
  for (int i = 0; i < kKeys; ++i) muts.push_back(MPut(key(i), "v" + key(i)));
  auto p = Prewrite(100, std::move(muts), 1000);
  ASSERT_EQ(p.errors_size(), 0) << p.ShortDebugString();
  // Another transaction's locks, among and after them.
  Data other = Data().Value("r150x", 90, "o1").Lock("r150x", "r150x", 90).Value("s", 90, "o2").Lock(
      "s", "r150x", 90);
  Seed(other);
  EXPECT_EQ(backend_->Dump(Cf::kLock).size(), kKeys + 2u);

  auto r = Resolve(100, 120);
  EXPECT_FALSE(r.has_error()) << r.ShortDebugString();

  Data want = other;
  for (int i = 0; i < kKeys; ++i) {
    want.Value(key(i), 100, "v" + key(i)).Write(key(i), 120, WriteKind::kPut, 100);
  }
  ExpectData(want);
  EXPECT_EQ(GetValue(key(0), 130), "vr000");
  EXPECT_EQ(GetValue(key(kKeys - 1), 130), "vr299");
}

TINYKV_TXN_BACKENDS(TxnResolveTest);

// ============================================================================
// Latches: commands on the same key issued together run one after another
// ============================================================================

class TxnLatchTest : public TxnTest {};

TEST_P(TxnLatchTest, ConcurrentPrewritesSameKey) {
  TxnKv* kv = nullptr;
  auto a = Start(&TxnKv::Prewrite, PrewriteReq(100, {MPut("k", "a")}, 0, "k"), "k", &kv);
  auto b = Start(&TxnKv::Prewrite, PrewriteReq(101, {MPut("k", "b")}, 0, "k"), "k");
  if (backend_->cluster() != nullptr) {
    // The first waits on Raft, holding the latch; the second waits for it.
    EXPECT_EQ(kv->ActiveCommands(), 2u);
  }
  backend_->Wait(a->future);
  backend_->Wait(b->future);
  ASSERT_TRUE(a->status.ok()) << a->status;
  ASSERT_TRUE(b->status.ok()) << b->status;
  ASSERT_FALSE(a->resp.has_region_error()) << a->resp.ShortDebugString();
  ASSERT_FALSE(b->resp.has_region_error()) << b->resp.ShortDebugString();
  ASSERT_EQ(a->resp.errors_size() + b->resp.errors_size(), 1)
      << a->resp.ShortDebugString() << " / " << b->resp.ShortDebugString();
  bool a_won = a->resp.errors_size() == 0;
  uint64_t winner = a_won ? 100 : 101;
  const auto& loser = a_won ? b->resp : a->resp;
  ExpectLockInfo(loser.errors(0), "k", "k", winner, 0);
  ExpectData(Data().Value("k", winner, a_won ? "a" : "b").Lock("k", "k", winner));
  EXPECT_EQ(kv->ActiveCommands(), 0u);
}

TEST_P(TxnLatchTest, ConcurrentPrewritesDifferentKeys) {
  TxnKv* kv = nullptr;
  auto a = Start(&TxnKv::Prewrite, PrewriteReq(100, {MPut("k1", "a")}, 0, "k1"), "k1", &kv);
  auto b = Start(&TxnKv::Prewrite, PrewriteReq(101, {MPut("k2", "b")}, 0, "k2"), "k2");
  backend_->Wait(a->future);
  backend_->Wait(b->future);
  ASSERT_TRUE(a->status.ok()) << a->status;
  ASSERT_TRUE(b->status.ok()) << b->status;
  EXPECT_FALSE(a->resp.has_region_error());
  EXPECT_FALSE(b->resp.has_region_error());
  EXPECT_EQ(a->resp.errors_size(), 0) << a->resp.ShortDebugString();
  EXPECT_EQ(b->resp.errors_size(), 0) << b->resp.ShortDebugString();
  ExpectData(Data()
                 .Value("k1", 100, "a")
                 .Lock("k1", "k1", 100)
                 .Value("k2", 101, "b")
                 .Lock("k2", "k2", 101));
  EXPECT_EQ(kv->ActiveCommands(), 0u);
}

// A commit and a rollback of one transaction, issued together: one wins,
// the other sees its outcome and answers abort.
TEST_P(TxnLatchTest, ConcurrentCommitAndRollback) {
  auto p = Prewrite(100, {MPut("k", "v")});
  ASSERT_EQ(p.errors_size(), 0) << p.ShortDebugString();
  TxnKv* kv = nullptr;
  auto c = Start(&TxnKv::Commit, CommitReq(100, 110, {"k"}), "k", &kv);
  auto r = Start(&TxnKv::BatchRollback, RollbackReq(100, {"k"}), "k");
  backend_->Wait(c->future);
  backend_->Wait(r->future);
  ASSERT_TRUE(c->status.ok()) << c->status;
  ASSERT_TRUE(r->status.ok()) << r->status;
  ASSERT_FALSE(c->resp.has_region_error());
  ASSERT_FALSE(r->resp.has_region_error());
  ASSERT_NE(c->resp.has_error(), r->resp.has_error())
      << c->resp.ShortDebugString() << " / " << r->resp.ShortDebugString();
  if (!c->resp.has_error()) {
    EXPECT_NE(r->resp.error().abort(), "") << r->resp.ShortDebugString();
    ExpectData(Data().Value("k", 100, "v").Write("k", 110, WriteKind::kPut, 100));
  } else {
    EXPECT_NE(c->resp.error().abort(), "") << c->resp.ShortDebugString();
    ExpectData(Data().Write("k", 100, WriteKind::kRollback, 100));
  }
  EXPECT_EQ(kv->ActiveCommands(), 0u);
}

TINYKV_TXN_BACKENDS(TxnLatchTest);

}  // namespace
}  // namespace tinykv::txntest

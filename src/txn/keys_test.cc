// The transactional key layout (txn/keys.h) and the lock and write records
// (txn/records.h): exact bytes, ordering and decoding errors.
#include "txn/keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/codec.h"
#include "txn/records.h"

namespace tinykv::txn {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

// ---- Keys ----

TEST(KeysTest, EncodeUserKeyIsMemcomparable) {
  EXPECT_EQ(EncodeUserKey(""), Bytes({0, 0, 0, 0, 0, 0, 0, 0, 0xF7}));
  EXPECT_EQ(EncodeUserKey("k"), Bytes({'k', 0, 0, 0, 0, 0, 0, 0, 0xF8}));
  EXPECT_EQ(EncodeUserKey("12345678"),
            Bytes({'1', '2', '3', '4', '5', '6', '7', '8', 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0xF7}));
  EXPECT_EQ(EncodeUserKey("abc"), EncodeBytes("abc"));
}

TEST(KeysTest, EncodeKeyAppendsComplementedTsBigEndian) {
  // ^1 = 0xFFFFFFFFFFFFFFFE.
  EXPECT_EQ(EncodeKey("k", 1), Bytes({'k', 0, 0, 0, 0, 0, 0, 0, 0xF8,  //
                                      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}));
  // ^0x0102030405060708, byte by byte.
  EXPECT_EQ(EncodeKey("", 0x0102030405060708ULL),
            Bytes({0, 0, 0, 0, 0, 0, 0, 0, 0xF7,  //
                   0xFE, 0xFD, 0xFC, 0xFB, 0xFA, 0xF9, 0xF8, 0xF7}));
  EXPECT_EQ(EncodeKey("k", 0), EncodeUserKey("k") + std::string(8, '\xFF'));
  EXPECT_EQ(EncodeKey("k", kTsMax), EncodeUserKey("k") + std::string(8, '\0'));
}

TEST(KeysTest, DecodeKeyRoundTrips) {
  for (const std::string& k : {std::string(), std::string("a"), std::string("12345678"),
                               std::string("\0\xff\x01", 3), std::string(20, 'z')}) {
    for (uint64_t ts : {uint64_t{0}, uint64_t{1}, uint64_t{12345}, kTsMax}) {
      auto d = DecodeKey(EncodeKey(k, ts));
      ASSERT_TRUE(d.ok()) << d.status().ToString();
      EXPECT_EQ(d->user_key, k);
      EXPECT_EQ(d->ts, ts);
    }
    auto u = DecodeUserKey(EncodeUserKey(k));
    ASSERT_TRUE(u.ok()) << u.status().ToString();
    EXPECT_EQ(*u, k);
  }
}

TEST(KeysTest, DecodeKeyRejectsMalformed) {
  std::string enc = EncodeUserKey("key");
  // No timestamp, a short one, a long one.
  EXPECT_EQ(DecodeKey(enc).status().code(), Code::kCorruption);
  EXPECT_EQ(DecodeKey(enc + std::string(7, '\0')).status().code(), Code::kCorruption);
  EXPECT_EQ(DecodeKey(enc + std::string(9, '\0')).status().code(), Code::kCorruption);
  // Not an encoded key at all.
  EXPECT_EQ(DecodeKey("").status().code(), Code::kCorruption);
  EXPECT_EQ(DecodeKey("not an encoded key").status().code(), Code::kCorruption);
  EXPECT_EQ(
      DecodeKey(Bytes({'a', 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0})).status().code(),
      Code::kCorruption);
}

TEST(KeysTest, DecodeUserKeyRejectsMalformed) {
  // A timestamp is trailing bytes for a user key.
  EXPECT_EQ(DecodeUserKey(EncodeKey("key", 5)).status().code(), Code::kCorruption);
  EXPECT_EQ(DecodeUserKey(EncodeUserKey("key") + "x").status().code(), Code::kCorruption);
  EXPECT_EQ(DecodeUserKey("").status().code(), Code::kCorruption);
  EXPECT_EQ(DecodeUserKey("abc").status().code(), Code::kCorruption);
}

TEST(KeysTest, OrderUserKeysAscendingVersionsNewestFirst) {
  // In ascending order (bytewise).
  const std::vector<std::string> users = {"",         std::string(1, '\0'), "a",     "aa",
                                          "abcdefgh", "abcdefghi",          "a\xff", "b"};
  std::vector<uint64_t> tss = {kTsMax, 1000, 999, 1, 0};  // newest first
  std::vector<std::string> expected;
  for (const auto& u : users) {
    for (uint64_t ts : tss) expected.push_back(EncodeKey(u, ts));
  }
  std::vector<std::string> sorted = expected;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, expected);
}

TEST(KeysTest, VersionsSitBetweenUserKeyAndNextUserKey) {
  const std::vector<std::string> users = {
      "", "a", std::string("a\0", 2), "ab", "abcdefgh", std::string("abcdefgh\0", 9), "b"};
  for (size_t i = 0; i < users.size(); ++i) {
    // After the lock CF key (Enc(k)), even the newest version.
    EXPECT_LT(EncodeUserKey(users[i]), EncodeKey(users[i], kTsMax)) << i;
    if (i + 1 < users.size()) {
      // Before the next key's Enc, even the oldest version.
      EXPECT_LT(EncodeKey(users[i], 0), EncodeUserKey(users[i + 1])) << i;
      EXPECT_LT(EncodeKey(users[i], 0), EncodeKey(users[i + 1], kTsMax)) << i;
    }
  }
}

TEST(KeysTest, ComposeAndPhysical) {
  EXPECT_EQ(ComposeTs(1, 0), uint64_t{1} << 18);
  EXPECT_EQ(ComposeTs(5, 3), (uint64_t{5} << 18) | 3);
  EXPECT_EQ(PhysicalMs(ComposeTs(123456, (1 << 18) - 1)), 123456u);
  EXPECT_EQ(PhysicalMs((uint64_t{1} << 18) - 1), 0u);
}

// ---- Records ----

TEST(RecordsTest, WriteEncodeExactBytes) {
  EXPECT_EQ((Write{WriteKind::kPut, 0x0102030405060708ULL}).Encode(),
            Bytes({1, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ((Write{WriteKind::kDelete, 5}).Encode(), Bytes({2, 0, 0, 0, 0, 0, 0, 0, 5}));
  EXPECT_EQ((Write{WriteKind::kRollback, 256}).Encode(), Bytes({3, 0, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_EQ((Write{WriteKind::kLock, kTsMax}).Encode(),
            Bytes({4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
}

TEST(RecordsTest, WriteRoundTrips) {
  for (WriteKind k :
       {WriteKind::kPut, WriteKind::kDelete, WriteKind::kRollback, WriteKind::kLock}) {
    Write w{k, 987654321};
    auto d = Write::Decode(w.Encode());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(*d, w);
  }
}

TEST(RecordsTest, WriteDecodeRejectsBadLengthAndKind) {
  std::string ok = (Write{WriteKind::kPut, 7}).Encode();
  EXPECT_EQ(Write::Decode("").status().code(), Code::kCorruption);
  EXPECT_EQ(Write::Decode(ok.substr(0, 8)).status().code(), Code::kCorruption);
  EXPECT_EQ(Write::Decode(ok + "x").status().code(), Code::kCorruption);
  EXPECT_EQ(Write::Decode(Bytes({0, 0, 0, 0, 0, 0, 0, 0, 7})).status().code(), Code::kCorruption);
  EXPECT_EQ(Write::Decode(Bytes({5, 0, 0, 0, 0, 0, 0, 0, 7})).status().code(), Code::kCorruption);
  EXPECT_EQ(Write::Decode(Bytes({0xFF, 0, 0, 0, 0, 0, 0, 0, 7})).status().code(),
            Code::kCorruption);
}

TEST(RecordsTest, LockEncodeExactBytes) {
  Lock l{"pk", WriteKind::kPut, 0x0102030405060708ULL, 3000};
  EXPECT_EQ(l.Encode(), Bytes({'p', 'k', 1,                      //
                               1, 2, 3, 4, 5, 6, 7, 8,           // ts
                               0, 0, 0, 0, 0, 0, 0x0B, 0xB8}));  // ttl 3000
  // An empty primary: just the 17 fixed bytes.
  EXPECT_EQ((Lock{"", WriteKind::kDelete, 1, 2}).Encode(),
            Bytes({2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2}));
}

TEST(RecordsTest, LockRoundTrips) {
  std::vector<Lock> locks = {
      {"primary", WriteKind::kPut, 100, 1000},
      {"", WriteKind::kDelete, 0, 0},
      {std::string("\0\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11", 18),
       WriteKind::kLock, kTsMax, kTsMax},
  };
  for (const Lock& l : locks) {
    auto d = Lock::Decode(l.Encode());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(*d, l);
  }
}

TEST(RecordsTest, LockDecodeRejectsBadLengthAndKind) {
  EXPECT_EQ(Lock::Decode("").status().code(), Code::kCorruption);
  EXPECT_EQ(Lock::Decode(std::string(16, '\x01')).status().code(), Code::kCorruption);
  std::string fixed = std::string(16, '\0');
  EXPECT_EQ(Lock::Decode("pk" + std::string(1, '\0') + fixed).status().code(), Code::kCorruption);
  EXPECT_EQ(Lock::Decode("pk" + std::string(1, '\5') + fixed).status().code(), Code::kCorruption);
  // A lock never has the kind Rollback.
  EXPECT_EQ(Lock::Decode("pk" + std::string(1, '\3') + fixed).status().code(), Code::kCorruption);
  EXPECT_EQ(Lock::Decode((Lock{"pk", WriteKind::kRollback, 1, 1}).Encode()).status().code(),
            Code::kCorruption);
  // The kind byte is the 17th from the end, whatever the primary holds.
  EXPECT_TRUE(Lock::Decode(std::string(1, '\3') + std::string(1, '\1') + fixed).ok());
}

TEST(RecordsTest, LockInfo) {
  Lock l{"pk", WriteKind::kPut, 42, 7};
  kvrpcpb::LockInfo info = l.Info("key");
  EXPECT_EQ(info.primary_lock(), "pk");
  EXPECT_EQ(info.lock_version(), 42u);
  EXPECT_EQ(info.key(), "key");
  EXPECT_EQ(info.lock_ttl(), 7u);
}

TEST(RecordsTest, LockExpiresByPhysicalTime) {
  Lock l{"pk", WriteKind::kPut, ComposeTs(1000, 5), 100};
  EXPECT_FALSE(l.ExpiredAt(ComposeTs(1000, 5)));
  EXPECT_FALSE(l.ExpiredAt(ComposeTs(1099, (1 << 18) - 1)));  // logical bits do not count
  EXPECT_TRUE(l.ExpiredAt(ComposeTs(1100, 0)));
  EXPECT_TRUE(l.ExpiredAt(ComposeTs(5000, 0)));
  // A raw ts difference of ttl is far less than ttl ms.
  EXPECT_FALSE(l.ExpiredAt(l.ts + 100));
  // A zero TTL has expired at once.
  EXPECT_TRUE((Lock{"pk", WriteKind::kPut, ComposeTs(10, 0), 0}).ExpiredAt(ComposeTs(10, 0)));
}

// A TTL near the maximum (kTsMax, a natural "no expiry") must not wrap
// around to an expiry in the past (it once did: ts + ttl overflowed, and
// CheckTxnStatus would have rolled back a live transaction).
TEST(RecordsTest, LockWithHugeTtlDoesNotExpire) {
  Lock l{"pk", WriteKind::kPut, ComposeTs(1000, 0), kTsMax};
  EXPECT_FALSE(l.ExpiredAt(ComposeTs(1000, 0)));
  EXPECT_FALSE(l.ExpiredAt(ComposeTs(2000, 0)));
  Lock almost{"pk", WriteKind::kPut, ComposeTs(1000, 0), kTsMax - 500};
  EXPECT_FALSE(almost.ExpiredAt(ComposeTs(1000, 0)));
}

}  // namespace
}  // namespace tinykv::txn

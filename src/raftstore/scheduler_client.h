// What the store needs from the scheduler (the placement driver): ids for
// the new region of a split, and reports of the regions it leads. The real
// client arrives with the scheduler; tests use a fake. Callbacks may run on
// any thread; the store re-enters its own queue.
#pragma once

#include <functional>
#include <vector>

#include "common/result.h"
#include "metapb.pb.h"

namespace tinykv::raftstore {

struct SplitIds {
  uint64_t new_region_id = 0;
  std::vector<uint64_t> new_peer_ids;  // one per peer of the region, in order
};

struct RegionHeartbeat {
  metapb::Region region;
  metapb::Peer leader;
  std::vector<metapb::Peer> pending_peers;  // peers the leader considers behind
  uint64_t approximate_size = 0;
};

class SchedulerClient {
 public:
  virtual ~SchedulerClient() = default;
  virtual void AskSplit(const metapb::Region& region,
                        std::function<void(Result<SplitIds>)> done) = 0;
  virtual void ReportRegion(const RegionHeartbeat& heartbeat) = 0;
};

}  // namespace tinykv::raftstore

// SchedulerService: schedulerpb.Scheduler on gRPC's callback API, over the
// scheduler core (scheduler::Cluster).
//
// The core is single-threaded: every call takes mu_ for the (short) time it
// runs. Region commands the core queues (operator steps) are sent on the
// RegionHeartbeat stream of the store that leads the region, the stream it
// last sent a heartbeat on. Tick() runs one coordinator round; the server
// calls it every schedule-interval from a timer thread.
//
// Every request must carry this cluster's id in its header, except
// GetMembers, which is how a client learns it. A request for another cluster
// is refused with FAILED_PRECONDITION, so that a store or client pointed at
// the wrong scheduler can never join or write.
//
// RPCs the scheduler does not serve (ScatterRegion) answer UNIMPLEMENTED.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "scheduler/cluster.h"
#include "schedulerpb.grpc.pb.h"

namespace tinykv::server {

class SchedulerService final : public schedulerpb::Scheduler::CallbackService {
 public:
  // `core` must outlive the service. `address` is what GetMembers reports.
  SchedulerService(scheduler::Cluster& core, std::string address)
      : core_(core), address_(std::move(address)) {}

  // The address GetMembers reports (known once the server listens).
  void SetAddress(std::string address) {
    std::lock_guard<std::mutex> lock(mu_);
    address_ = std::move(address);
  }

  // One coordinator round, then sends the commands it made.
  void Tick();
  // Ends every stream (at shutdown, before gRPC stops); later ones are refused.
  void CloseStreams();

  // For tests: whether a store has a heartbeat stream open.
  bool HasStream(uint64_t store_id);

  using Ctx = grpc::CallbackServerContext;
  grpc::ServerUnaryReactor* GetMembers(Ctx*, const schedulerpb::GetMembersRequest*,
                                       schedulerpb::GetMembersResponse*) override;
  grpc::ServerBidiReactor<schedulerpb::TsoRequest, schedulerpb::TsoResponse>* Tso(Ctx*) override;
  grpc::ServerUnaryReactor* Bootstrap(Ctx*, const schedulerpb::BootstrapRequest*,
                                      schedulerpb::BootstrapResponse*) override;
  grpc::ServerUnaryReactor* IsBootstrapped(Ctx*, const schedulerpb::IsBootstrappedRequest*,
                                           schedulerpb::IsBootstrappedResponse*) override;
  grpc::ServerUnaryReactor* AllocID(Ctx*, const schedulerpb::AllocIDRequest*,
                                    schedulerpb::AllocIDResponse*) override;
  grpc::ServerUnaryReactor* GetStore(Ctx*, const schedulerpb::GetStoreRequest*,
                                     schedulerpb::GetStoreResponse*) override;
  grpc::ServerUnaryReactor* PutStore(Ctx*, const schedulerpb::PutStoreRequest*,
                                     schedulerpb::PutStoreResponse*) override;
  grpc::ServerUnaryReactor* GetAllStores(Ctx*, const schedulerpb::GetAllStoresRequest*,
                                         schedulerpb::GetAllStoresResponse*) override;
  grpc::ServerUnaryReactor* StoreHeartbeat(Ctx*, const schedulerpb::StoreHeartbeatRequest*,
                                           schedulerpb::StoreHeartbeatResponse*) override;
  grpc::ServerBidiReactor<schedulerpb::RegionHeartbeatRequest,
                          schedulerpb::RegionHeartbeatResponse>*
  RegionHeartbeat(Ctx*) override;
  grpc::ServerUnaryReactor* GetRegion(Ctx*, const schedulerpb::GetRegionRequest*,
                                      schedulerpb::GetRegionResponse*) override;
  grpc::ServerUnaryReactor* GetPrevRegion(Ctx*, const schedulerpb::GetRegionRequest*,
                                          schedulerpb::GetRegionResponse*) override;
  grpc::ServerUnaryReactor* GetRegionByID(Ctx*, const schedulerpb::GetRegionByIDRequest*,
                                          schedulerpb::GetRegionResponse*) override;
  grpc::ServerUnaryReactor* ScanRegions(Ctx*, const schedulerpb::ScanRegionsRequest*,
                                        schedulerpb::ScanRegionsResponse*) override;
  grpc::ServerUnaryReactor* AskSplit(Ctx*, const schedulerpb::AskSplitRequest*,
                                     schedulerpb::AskSplitResponse*) override;
  grpc::ServerUnaryReactor* ReportSplit(Ctx*, const schedulerpb::ReportSplitRequest*,
                                        schedulerpb::ReportSplitResponse*) override;
  grpc::ServerUnaryReactor* GetClusterConfig(Ctx*, const schedulerpb::GetClusterConfigRequest*,
                                             schedulerpb::GetClusterConfigResponse*) override;
  grpc::ServerUnaryReactor* PutClusterConfig(Ctx*, const schedulerpb::PutClusterConfigRequest*,
                                             schedulerpb::PutClusterConfigResponse*) override;
  grpc::ServerUnaryReactor* GetGCSafePoint(Ctx*, const schedulerpb::GetGCSafePointRequest*,
                                           schedulerpb::GetGCSafePointResponse*) override;
  grpc::ServerUnaryReactor* UpdateGCSafePoint(Ctx*, const schedulerpb::UpdateGCSafePointRequest*,
                                              schedulerpb::UpdateGCSafePointResponse*) override;
  grpc::ServerUnaryReactor* GetOperator(Ctx*, const schedulerpb::GetOperatorRequest*,
                                        schedulerpb::GetOperatorResponse*) override;
  grpc::ServerUnaryReactor* AddOperator(Ctx*, const schedulerpb::AddOperatorRequest*,
                                        schedulerpb::AddOperatorResponse*) override;
  grpc::ServerUnaryReactor* RemoveStore(Ctx*, const schedulerpb::RemoveStoreRequest*,
                                        schedulerpb::RemoveStoreResponse*) override;
  grpc::ServerUnaryReactor* GetClusterStatus(Ctx*, const schedulerpb::GetClusterStatusRequest*,
                                             schedulerpb::GetClusterStatusResponse*) override;

  // ---- For the stream reactors (internal) ----
  class Stream;
  class HeartbeatStream;
  class TsoStream;
  // Checks a request header; a refusal is the gRPC status to end with.
  grpc::Status CheckHeader(const schedulerpb::RequestHeader& h) const;
  void OnRegionHeartbeat(HeartbeatStream* from, const schedulerpb::RegionHeartbeatRequest& req);
  schedulerpb::TsoResponse OnTso(const schedulerpb::TsoRequest& req);
  // Registers a stream for CloseStreams; false when closing.
  bool AddStream(Stream* s);
  void RemoveStream(Stream* s);

 private:
  // Runs fn(resp) -> scheduler::SStatus under mu_ after the header check,
  // fills the response header, sends the commands fn made, finishes.
  template <typename Req, typename Resp, typename Fn>
  grpc::ServerUnaryReactor* Unary(Ctx* ctx, const Req* req, Resp* resp, Fn fn);
  void Dispatch(std::vector<scheduler::RegionCommand> commands);

  std::mutex mu_;  // guards core_
  scheduler::Cluster& core_;
  std::string address_;  // guarded by mu_

  // Lock order: mu_, then streams_mu_.
  std::mutex streams_mu_;
  std::set<Stream*> streams_;
  std::map<uint64_t, HeartbeatStream*> by_store_;  // the newest stream of each store
  bool closing_ = false;
};

}  // namespace tinykv::server

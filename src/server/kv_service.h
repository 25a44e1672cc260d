// KvService: tinykvpb.TinyKv on gRPC's callback API. Each RPC hands the
// request to its handler and finishes when the handler's `done` runs, so no
// gRPC thread waits on the disk. RPCs without a handler yet (transactions,
// Raft, Snapshot, Coprocessor) keep the generated default: UNIMPLEMENTED.
#pragma once

#include "server/raw_kv.h"
#include "tinykvpb.grpc.pb.h"

namespace tinykv::server {

class KvService final : public tinykvpb::TinyKv::CallbackService {
 public:
  // `raw` must outlive the service.
  explicit KvService(RawKv& raw) : raw_(raw) {}

  grpc::ServerUnaryReactor* RawGet(grpc::CallbackServerContext* ctx,
                                   const kvrpcpb::RawGetRequest* req,
                                   kvrpcpb::RawGetResponse* resp) override;
  grpc::ServerUnaryReactor* RawPut(grpc::CallbackServerContext* ctx,
                                   const kvrpcpb::RawPutRequest* req,
                                   kvrpcpb::RawPutResponse* resp) override;
  grpc::ServerUnaryReactor* RawDelete(grpc::CallbackServerContext* ctx,
                                      const kvrpcpb::RawDeleteRequest* req,
                                      kvrpcpb::RawDeleteResponse* resp) override;
  grpc::ServerUnaryReactor* RawScan(grpc::CallbackServerContext* ctx,
                                    const kvrpcpb::RawScanRequest* req,
                                    kvrpcpb::RawScanResponse* resp) override;

 private:
  RawKv& raw_;
};

}  // namespace tinykv::server

#include "server/kv_service.h"

namespace tinykv::server {
namespace {

// Runs `handler` and finishes the call with OK when it is done: errors travel
// in the response's error fields, as the protocol defines.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* ctx, RawKv& raw,
                                void (RawKv::*handler)(const Request&, Response*, RawKv::Done),
                                const Request* req, Response* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  (raw.*handler)(*req, resp, [reactor] { reactor->Finish(grpc::Status::OK); });
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* KvService::RawGet(grpc::CallbackServerContext* ctx,
                                            const kvrpcpb::RawGetRequest* req,
                                            kvrpcpb::RawGetResponse* resp) {
  return Serve(ctx, raw_, &RawKv::Get, req, resp);
}

grpc::ServerUnaryReactor* KvService::RawPut(grpc::CallbackServerContext* ctx,
                                            const kvrpcpb::RawPutRequest* req,
                                            kvrpcpb::RawPutResponse* resp) {
  return Serve(ctx, raw_, &RawKv::Put, req, resp);
}

grpc::ServerUnaryReactor* KvService::RawDelete(grpc::CallbackServerContext* ctx,
                                               const kvrpcpb::RawDeleteRequest* req,
                                               kvrpcpb::RawDeleteResponse* resp) {
  return Serve(ctx, raw_, &RawKv::Delete, req, resp);
}

grpc::ServerUnaryReactor* KvService::RawScan(grpc::CallbackServerContext* ctx,
                                             const kvrpcpb::RawScanRequest* req,
                                             kvrpcpb::RawScanResponse* resp) {
  return Serve(ctx, raw_, &RawKv::Scan, req, resp);
}

}  // namespace tinykv::server

#include "net/peer_transport.hpp"

#include <utility>

namespace kvs::net {

std::string_view lane_name(Lane lane) noexcept {
  switch (lane) {
    case Lane::kMembership: return "membership";
    case Lane::kPush: return "push";
    case Lane::kSync: return "sync";
    case Lane::kBootstrap: return "bootstrap";
    case Lane::kLaneCount: break;
  }
  return "unknown";
}

PendingAnswer::PendingAnswer(PeerTransport& transport, PeerRequest request)
    : promise_(std::make_shared<std::promise<Result<PeerAnswer>>>()), future_(promise_->get_future()) {
  // The callback shares the promise: it may run after this handle is gone (get() not called).
  Status posted = transport.post(std::move(request),
                                 [promise = promise_](Result<PeerAnswer> answer) { promise->set_value(std::move(answer)); });
  if (!posted.is_ok()) promise_->set_value(Result<PeerAnswer>(std::move(posted)));
}

Result<PeerAnswer> PendingAnswer::get() { return future_.get(); }

Result<PeerAnswer> post_and_wait(PeerTransport& transport, PeerRequest request) {
  return PendingAnswer(transport, std::move(request)).get();
}

Status expect_success(std::string_view address, std::string_view path, const PeerAnswer& answer) {
  if (answer.status >= 200 && answer.status < 300) return Status::ok();
  return Status::unavailable("peer " + std::string(address) + " answered " + std::to_string(answer.status) + " to " +
                             std::string(path));
}

}  // namespace kvs::net

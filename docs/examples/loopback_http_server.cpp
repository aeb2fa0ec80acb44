// SPDX-License-Identifier: MIT
#include "loopback_http_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>
#include <utility>

namespace localbag::examples {
namespace {

constexpr std::size_t kMaxRequest = 64 * 1024;

std::string http_response(std::string_view status, std::string_view body) {
  std::string out = "HTTP/1.0 ";
  out += status;
  out += "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

}  // namespace

std::string sample_page(std::size_t lines) {
  std::string page = "<!DOCTYPE html>\n<html><head><title>localbag</title></head><body>\n";
  for (std::size_t i = 1; i <= lines; ++i) {
    page += "<p>Line " + std::to_string(i) + ": one thread, one socket, one dict.</p>\n";
  }
  return page + "</body></html>\n";
}

LoopbackHttpServer::LoopbackHttpServer(std::size_t connections, std::string body,
                                       std::chrono::milliseconds idle_timeout)
    : listener_(Socket::listen(Address{"127.0.0.1", 0}, 16)),
      address_(listener_.local_address()),
      response_(http_response("200 OK", body)),
      connections_(connections),
      idle_timeout_(idle_timeout) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  thread_ = std::thread([this] { serve(); });
}

LoopbackHttpServer::~LoopbackHttpServer() {
  const std::uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof one) < 0) {
    // Cannot happen for an eventfd below its maximum; the idle timeout would still end it.
  }
  if (thread_.joinable()) thread_.join();
  ::close(wake_fd_);
}

LoopbackHttpServer::Stats LoopbackHttpServer::wait() {
  if (thread_.joinable()) thread_.join();
  return stats_;
}

void LoopbackHttpServer::serve() noexcept {
  for (std::size_t served = 0; served < connections_; ++served) {
    pollfd fds[2] = {{listener_.fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int ready;
    do {
      ready = ::poll(fds, 2, static_cast<int>(idle_timeout_.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0 || (fds[1].revents & POLLIN) != 0) break;  // idle, error or stopping
    Socket client(::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.is_open()) break;
    serve_one(std::move(client));
  }
  listener_.close();  // later clients get "connection refused" instead of waiting
}

void LoopbackHttpServer::serve_one(Socket client) noexcept {
  try {
    client.set_timeout(Socket::kDefaultTimeout);
    std::string request;
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequest) {
      std::string chunk;
      try {
        chunk = client.recv(4096);
      } catch (const std::system_error&) {
        ++stats_.timed_out;
        return;
      }
      if (chunk.empty()) {
        ++stats_.no_request;
        return;
      }
      request += chunk;
    }
    if (request.starts_with("GET /index.html HTTP/1.")) {
      client.send_all(response_);
      ++stats_.ok;
    } else {
      client.send_all(http_response("404 Not Found", "<h1>Not Found</h1>\n"));
      ++stats_.not_found;
    }
  } catch (const std::exception&) {
    ++stats_.timed_out;  // the client stopped reading: the send timed out or hit a reset
  }
}

}  // namespace localbag::examples

// SPDX-License-Identifier: MIT
#include "socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace localbag::examples {
namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

sockaddr_in to_sockaddr(const Address& address) {
  sockaddr_in out{};
  out.sin_family = AF_INET;
  out.sin_port = htons(address.port);
  if (inet_pton(AF_INET, address.host.c_str(), &out.sin_addr) != 1) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "not an IPv4 address: " + address.host);
  }
  return out;
}

Address from_sockaddr(const sockaddr_in& in) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
  return Address{text, ntohs(in.sin_port)};
}

Socket new_tcp_socket() {
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.is_open()) throw_errno("socket");
  s.set_timeout(Socket::kDefaultTimeout);
  return s;
}

}  // namespace

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.release();
  }
  return *this;
}

Socket Socket::connect(const Address& address) {
  const sockaddr_in to = to_sockaddr(address);
  Socket s = new_tcp_socket();
  // With SO_SNDTIMEO set, Linux also bounds a blocking connect by it.
  if (::connect(s.fd(), reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    throw_errno("connect");
  }
  return s;
}

Socket Socket::listen(const Address& address, int backlog) {
  const sockaddr_in at = to_sockaddr(address);
  Socket s = new_tcp_socket();
  const int on = 1;
  ::setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::bind(s.fd(), reinterpret_cast<const sockaddr*>(&at), sizeof at) != 0) throw_errno("bind");
  if (::listen(s.fd(), backlog) != 0) throw_errno("listen");
  return s;
}

Address Socket::local_address() const {
  sockaddr_in in{};
  socklen_t size = sizeof in;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&in), &size) != 0) throw_errno("getsockname");
  return from_sockaddr(in);
}

Address Socket::peer_address() const {
  sockaddr_in in{};
  socklen_t size = sizeof in;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&in), &size) != 0) return Address{};
  return from_sockaddr(in);
}

void Socket::set_timeout(std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    throw_errno("setsockopt");
  }
}

void Socket::send_all(std::string_view data) {
  while (!data.empty()) {
    // MSG_NOSIGNAL: a closed peer is an EPIPE error here, not a process-killing SIGPIPE.
    const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      throw_errno("send");
    }
    data.remove_prefix(static_cast<std::size_t>(sent));
  }
}

std::string Socket::recv(std::size_t size) {
  std::string out(size, '\0');
  ssize_t got;
  do {
    got = ::recv(fd_, out.data(), out.size(), 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) throw_errno("recv");  // EAGAIN: the timeout expired
  out.resize(static_cast<std::size_t>(got));
  return out;
}

std::string Socket::recv_all() {
  std::string all;
  for (std::string chunk = recv(8192); !chunk.empty(); chunk = recv(8192)) all += chunk;
  return all;
}

void Socket::close() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::string localbag_repr(const Socket& socket) {
  if (!socket.is_open()) return "<socket [closed]>";
  auto text = [](const Address& a) { return "('" + a.host + "', " + std::to_string(a.port) + ")"; };
  std::string out = "<socket fd=" + std::to_string(socket.fd());
  out += ", laddr=" + text(socket.local_address());
  const Address peer = socket.peer_address();
  if (!peer.host.empty()) out += ", raddr=" + text(peer);
  return out + ">";
}

}  // namespace localbag::examples

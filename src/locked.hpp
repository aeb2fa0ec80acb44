// SPDX-License-Identifier: MIT
#pragma once
// Internal: `Locked<mutex_fn>`, a scoped lock that is also a token. A function whose comment
// would say "mutex held" takes `const Locked<...>&` instead, so a caller that does not hold that
// mutex does not compile. (abseil and folly say the same with lock annotations; a token works on
// every compiler and costs nothing.)

#include <mutex>

namespace localbag::detail {

template <std::mutex& (*Mutex)()>
class [[nodiscard]] Locked {
 public:
  Locked() : lock_(Mutex()) {}
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
};

}  // namespace localbag::detail

// SPDX-License-Identifier: MIT
#pragma once
// `FunctionRef`: a non-owning reference to a callable, two words, no allocation. The full lookup
// hands a found value to one, so that the value is read under whatever lock guards it.

#include <type_traits>
#include <utility>

namespace localbag::detail {

template <class Signature>
class FunctionRef;

template <class R, class... A>
class FunctionRef<R(A...)> {
 public:
  template <class F>
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor)
      : object_(const_cast<void*>(static_cast<const void*>(&f))), call_([](void* o, A... a) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...);
        }) {}
  R operator()(A... a) const { return call_(object_, std::forward<A>(a)...); }

 private:
  void* object_;
  R (*call_)(void*, A...);
};

}  // namespace localbag::detail

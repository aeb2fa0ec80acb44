// SPDX-License-Identifier: MIT
#pragma once
// Every kind of access that can be an object's first in a thread or context, each as a named
// function, for the tests that init runs once whichever comes first (test_threads.cpp,
// test_context.cpp). The object's class defines `number = 2`, a method `m` returning 3, and an
// init that sets `from_init = 1`.

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "localbag/error.hpp"
#include "localbag/local_object.hpp"
#include "localbag/repr.hpp"

namespace localbag::test {

using Access = std::pair<std::string, std::function<void(LocalObject&)>>;

inline std::vector<Access> first_accesses() {
  return {
      {"get", [](LocalObject& o) { EXPECT_EQ(o.get<int>("number"), 2); }},
      {"try_get", [](LocalObject& o) { EXPECT_EQ(o.try_get<int>("absent"), std::nullopt); }},
      {"getattr", [](LocalObject& o) { EXPECT_EQ(o.getattr("from_init").get<int>(), 1); }},
      {"getattr_dict",
       [](LocalObject& o) { EXPECT_EQ(repr(o.getattr("__dict__")), "{'from_init': 1}"); }},
      {"hasattr", [](LocalObject& o) { EXPECT_FALSE(o.hasattr("absent")); }},
      {"setattr", [](LocalObject& o) { o.setattr("y", 5); }},
      {"delattr", [](LocalObject& o) { o.delattr("from_init"); }},
      {"delattr_missing",
       [](LocalObject& o) { EXPECT_THROW(o.delattr("absent"), AttributeError); }},
      {"dict", [](LocalObject& o) { EXPECT_EQ(repr(o.dict()), "{'from_init': 1}"); }},
      {"find", [](LocalObject& o) { EXPECT_NE(o.find("from_init"), nullptr); }},
      {"ref", [](LocalObject& o) { EXPECT_EQ(o.ref<int>("from_init"), 1); }},
      {"call", [](LocalObject& o) { EXPECT_EQ(o.call("m").get<int>(), 3); }},
  };
}

}  // namespace localbag::test

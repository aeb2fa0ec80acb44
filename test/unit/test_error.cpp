// SPDX-License-Identifier: MIT
// Unit tests for <localbag/error.hpp>: the hierarchy, python_type() and to_string().

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <type_traits>

#include "localbag/error.hpp"

namespace localbag {
namespace {

static_assert(std::is_base_of_v<Error, AttributeError>);
static_assert(std::is_base_of_v<Error, TypeError>);
static_assert(std::is_base_of_v<Error, ValueError>);
static_assert(std::is_base_of_v<Error, KeyError>);
static_assert(std::is_base_of_v<Error, NameError>);
static_assert(std::is_base_of_v<std::runtime_error, Error>);

TEST(Error, WhatIsTheMessageOnly) {
  AttributeError e("'MyLocal' object has no attribute 'color'");
  EXPECT_STREQ(e.what(), "'MyLocal' object has no attribute 'color'");
  EXPECT_STREQ(e.python_type(), "AttributeError");
}

TEST(Error, ToStringIsTracebackLastLine) {
  EXPECT_EQ(AttributeError("'MyLocal' object has no attribute 'color'").to_string(),
            "AttributeError: 'MyLocal' object has no attribute 'color'");
  EXPECT_EQ(TypeError("'int' object is not callable").to_string(),
            "TypeError: 'int' object is not callable");
  EXPECT_EQ(ValueError("class 'X' is already defined").to_string(),
            "ValueError: class 'X' is already defined");
  EXPECT_EQ(KeyError("'x'").to_string(), "KeyError: 'x'");
  EXPECT_EQ(NameError("name 'Base' is not defined").to_string(),
            "NameError: name 'Base' is not defined");
}

TEST(Error, EachClassHasItsPythonName) {
  EXPECT_STREQ(TypeError("m").python_type(), "TypeError");
  EXPECT_STREQ(ValueError("m").python_type(), "ValueError");
  EXPECT_STREQ(KeyError("m").python_type(), "KeyError");
  EXPECT_STREQ(NameError("m").python_type(), "NameError");
  EXPECT_STREQ(Error("SystemError", "m").python_type(), "SystemError");
  EXPECT_EQ(Error("SystemError", "__init__ called too many times").to_string(),
            "SystemError: __init__ called too many times");
}

TEST(Error, CatchableAsBaseAndStdException) {
  try {
    throw KeyError("'number'");
  } catch (const Error& e) {
    EXPECT_STREQ(e.python_type(), "KeyError");
    EXPECT_EQ(e.to_string(), "KeyError: 'number'");
  }
  try {
    throw NameError("name 'Base' is not defined");
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "name 'Base' is not defined");
  }
}

TEST(Error, EmptyMessage) {
  ValueError e("");
  EXPECT_STREQ(e.what(), "");
  EXPECT_STREQ(e.python_type(), "ValueError");
}

}  // namespace
}  // namespace localbag

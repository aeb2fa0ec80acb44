// SPDX-License-Identifier: MIT
#pragma once
// EXPECT_LB_ERROR: the check that a statement throws a given localbag error with an exact
// message.

#include <gtest/gtest.h>

#include <exception>
#include <string>

// Runs `statement`, which must throw `ErrorType` (a localbag error class, named as at the call
// site) with exactly `message` as what() and "ErrorType" as python_type(). Any further arguments
// are statements run after those two checks, with `e` naming the caught exception.
#define EXPECT_LB_ERROR_AND(statement, ErrorType, message, ...)             \
  do {                                                                      \
    try {                                                                   \
      statement;                                                            \
      ADD_FAILURE() << "expected " #ErrorType " from: " #statement;         \
    } catch (const ErrorType& e) {                                          \
      EXPECT_EQ(std::string(e.what()), std::string(message));               \
      EXPECT_STREQ(e.python_type(), #ErrorType);                            \
      __VA_ARGS__                                                           \
    } catch (const std::exception& e) {                                     \
      ADD_FAILURE() << #statement " threw another exception: " << e.what(); \
    }                                                                       \
  } while (0)

#define EXPECT_LB_ERROR(statement, ErrorType, message) \
  EXPECT_LB_ERROR_AND(statement, ErrorType, message, )

// SPDX-License-Identifier: MIT
#include "localbag/repr.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "localbag/dict.hpp"

namespace localbag {

void repr_append(std::string& out, const Value& value) {
  if (value.ops_ == nullptr) {
    out += "None";
  } else {
    value.ops_->repr(out, value.buffer_);
  }
}

std::string repr(const Value& value) {
  std::string out;
  repr_append(out, value);
  return out;
}

std::string repr(const Dict& dict) {
  std::string out;
  detail::repr_dict(out, dict);
  return out;
}

namespace detail {

void repr_int(std::string& out, long long value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr);
}

void repr_uint(std::string& out, unsigned long long value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr);
}

// Python's float repr: the shortest digits that round-trip, in fixed notation when the decimal
// exponent is in [-4, 16), else as d.ddde+XX; integral values keep a ".0".
void repr_float(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "nan";
    return;
  }
  if (std::isinf(value)) {
    out += value < 0 ? "-inf" : "inf";
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));  // [-]d[.ddd]e[+-]XX
  const std::size_t e = sci.find('e');
  const int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  std::string_view mantissa = sci.substr(0, e);
  const bool negative = mantissa.front() == '-';
  if (negative) mantissa.remove_prefix(1);
  std::string digits;  // the significant digits, without the point
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  if (negative) out += '-';
  if (exponent >= -4 && exponent < 16) {
    const int point = exponent + 1;  // digits before the decimal point
    if (point <= 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-point), '0');
      out += digits;
    } else if (static_cast<std::size_t>(point) >= digits.size()) {
      out += digits;
      out.append(static_cast<std::size_t>(point) - digits.size(), '0');
      out += ".0";
    } else {
      out.append(digits, 0, static_cast<std::size_t>(point));
      out += '.';
      out.append(digits, static_cast<std::size_t>(point));
    }
    return;
  }
  out += digits[0];
  if (digits.size() > 1) {
    out += '.';
    out.append(digits, 1);
  }
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  out += exp;
}

namespace {

// The quoted body of Python's str and bytes reprs: single quotes unless the text has a ' and no
// ", escapes for \\, the quote, \t \n \r and other control bytes. Bytes from 0x80 up pass
// through in a str (UTF-8 text stays readable) and become \xNN in bytes.
void repr_quoted(std::string& out, std::string_view text, bool bytes) {
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out += quote;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f || (bytes && u > 0x7f)) {
      char esc[5];
      std::snprintf(esc, sizeof esc, "\\x%02x", u);
      out += esc;
    } else {
      out += c;
    }
  }
  out += quote;
}

}  // namespace

void repr_str(std::string& out, std::string_view text) { repr_quoted(out, text, false); }

void repr_bytes(std::string& out, std::string_view bytes) {
  out += 'b';
  repr_quoted(out, bytes, true);
}

void repr_list(std::string& out, const List& list) {
  out += '[';
  bool first = true;
  for (const Value& v : list) {
    if (!first) out += ", ";
    first = false;
    repr_append(out, v);
  }
  out += ']';
}

void repr_tuple(std::string& out, const Tuple& tuple) {
  out += '(';
  bool first = true;
  for (const Value& v : tuple.items) {
    if (!first) out += ", ";
    first = false;
    repr_append(out, v);
  }
  if (tuple.items.size() == 1) out += ',';
  out += ')';
}

void repr_dict(std::string& out, const Dict& dict) {
  out += '{';
  bool first = true;
  for (const auto [key, value] : dict) {
    if (!first) out += ", ";
    first = false;
    repr_str(out, key);
    out += ": ";
    repr_append(out, value);
  }
  out += '}';
}

}  // namespace detail
}  // namespace localbag

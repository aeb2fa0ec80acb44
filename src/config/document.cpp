// SPDX-License-Identifier: MIT
// Reading a configuration document: JSON text through nlohmann-json's SAX parser, which builds
// the Values directly (no intermediate json tree), or a Dict given in code.
#include "document.hpp"

#include "localbag/error.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

namespace localbag::detail::config {

ConfigError make_error(const char* python_type, const std::string& source, Place where,
                       const std::string& message) {
  std::string text = source;
  if (where.line > 0) {
    text += ':' + std::to_string(where.line) + ':' + std::to_string(where.column);
  }
  text += ": ";
  text += message;
  return ConfigError(python_type, source, where.line, where.column, text);
}

void fail(const char* python_type, const std::string& source, Place where,
          const std::string& message) {
  throw make_error(python_type, source, where, message);
}

// Appended, not `"'" + std::string(s)`: g++ 12 -O3 warns falsely (-Wrestrict) on that.
std::string in_quotes(std::string_view s) {
  std::string out(1, '\'');
  out += s;
  out += '\'';
  return out;
}

// What a value is for the schema: Python's type, by the numeric policy for numbers (any C++
// integer type is an `int`, a float or double a `float`).
Kind kind_of(const Value& v) {
  if (v.is_none()) return Kind::kNone;
  if (v.holds<bool>()) return Kind::kBool;
  if (v.holds<std::string>()) return Kind::kStr;
  if (v.holds<List>()) return Kind::kList;
  if (v.holds<Dict>()) return Kind::kDict;
  if (v.holds<std::int64_t>()) return Kind::kInt;
  if (v.holds<double>()) return Kind::kFloat;
  try {
    (void)v.as<std::int64_t>();
    return Kind::kInt;
  } catch (const OverflowError&) {
    return Kind::kInt;  // beyond 64 bits, still an int
  } catch (const Error&) {
  }
  try {
    (void)v.as<double>();
    return Kind::kFloat;
  } catch (const Error&) {
  }
  return Kind::kOther;
}

std::string kind_name(const Value& v) {
  switch (kind_of(v)) {
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kStr:
      return "str";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kOther:
      break;
  }
  return v.type_name();
}

namespace {

// A char iterator that records how far the parser has read: nlohmann's SAX interface gives no
// positions, so the handler derives them from this.
class CountingIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator() = default;
  CountingIterator(const char* at, const char** mark) : at_(at), mark_(mark) {}
  reference operator*() const { return *at_; }
  CountingIterator& operator++() {
    ++at_;
    if (mark_ != nullptr) *mark_ = at_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator old = *this;
    ++*this;
    return old;
  }
  friend bool operator==(const CountingIterator& a, const CountingIterator& b) {
    return a.at_ == b.at_;
  }

 private:
  const char* at_ = nullptr;
  const char** mark_ = nullptr;
};

Place place_of(std::string_view text, std::size_t offset) {
  Place place{1, 1};
  if (offset > text.size()) offset = text.size();
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++place.line;
      place.column = 1;
    } else {
      ++place.column;
    }
  }
  return place;
}

// Builds the document from the parser's events. Depth 1: the document object, whose members are
// classes; depth 2: a class's object, whose members are attributes; deeper: values.
class Builder {
 public:
  using json = nlohmann::json;

  Builder(std::string_view text, const std::string& source) : text_(text), source_(source) {
    read_to_ = text.data();
    last_end_ = text.data();
  }

  Document take() { return std::move(doc_); }

  // Each event: nothing more is built once the document was refused; the parser goes on, as
  // a syntax error further on is the one to report (as Python's json parses the whole text
  // before anything looks at it).
  bool null() { return value(Value(None{})); }
  bool boolean(bool b) { return value(Value(b)); }
  bool number_integer(json::number_integer_t n) { return value(Value(std::int64_t{n}), true); }
  bool number_unsigned(json::number_unsigned_t n) {
    if (n <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return value(Value(static_cast<std::int64_t>(n)), true);
    }
    return value(Value(std::uint64_t{n}), true);  // an int all the same (kind_of)
  }
  bool number_float(json::number_float_t x, const std::string& lexeme) {
    if (lexeme.find_first_of(".eE") == std::string::npos) {  // an integer beyond 64 bits
      refuse("OverflowError", value_start(), "int " + lexeme + " does not fit in 64 bits");
      mark_number();
      return true;
    }
    return value(Value(double{x}), true);
  }
  bool string(std::string& s) { return value(Value(std::move(s))); }
  bool binary(json::binary_t&) { return value(Value(None{})); }  // not produced by JSON text

  bool start_object(std::size_t) {
    const Place where = value_start();
    if (refused_) return skip();
    if (frames_.empty()) {
      frames_.push_back({Frame::kDocument, {}, {}, {}, where});
    } else if (frames_.size() == 1) {
      current_class_ = DocClass{};
      current_class_.name = frames_.back().key;
      current_class_.where = where;
      frames_.push_back({Frame::kClass, {}, {}, {}, where});
    } else {
      frames_.push_back({Frame::kDict, {}, {}, {}, where});
    }
    mark();
    return true;
  }
  bool key(std::string& k) {
    if (refused_) return skip();
    frames_.back().key = std::move(k);
    mark();
    return true;
  }
  bool end_object() {
    if (refused_) return skip();
    Frame frame = std::move(frames_.back());
    frames_.pop_back();
    mark();
    if (frame.kind == Frame::kDocument) return true;
    if (frame.kind == Frame::kClass) {
      finish_class();
      return true;
    }
    return attach(Value(std::move(frame.dict)), frame.where);
  }
  bool start_array(std::size_t) {
    const Place where = value_start();
    if (refused_) return skip();
    if (frames_.empty()) {
      return refuse("ValueError", where, "a configuration must be an object of classes, not list");
    }
    if (frames_.size() == 1) return not_a_class(where, "list");
    frames_.push_back({Frame::kList, {}, {}, {}, where});
    mark();
    return true;
  }
  bool end_array() {
    if (refused_) return skip();
    Frame frame = std::move(frames_.back());
    frames_.pop_back();
    mark();
    return attach(Value(std::move(frame.list)), frame.where);
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
    // The place is where the bad token starts: the first character after the last event that
    // is not whitespace or a separator (where Python's json puts it too).
    const std::string_view what = ex.what();
    if (what.find("number overflow") != std::string_view::npos) {  // beyond a double's range
      fail("OverflowError", source_, value_start(), "number too large: " + number_text());
    }
    fail("JSONDecodeError", source_, value_start(), python_message(what));
  }

  // Python's json.JSONDecodeError message for nlohmann's "[json.exception.parse_error.101]
  // parse error at line L, column C: syntax error while parsing <what> - <detail>", or the
  // detail itself for the errors Python words differently (bad strings, numbers).
  static std::string python_message(std::string_view what) {
    std::string_view detail = what;
    if (const std::size_t colon = detail.find(": "); colon != std::string_view::npos) {
      detail.remove_prefix(colon + 2);
    }
    const auto has = [&](std::string_view part) { return detail.find(part) != detail.npos; };
    if (has("; expected end of input")) return "Extra data";
    if (has("while parsing object key")) return "Expecting property name enclosed in double quotes";
    if (has("while parsing object separator")) return "Expecting ':' delimiter";
    if (has("while parsing object") || has("while parsing array")) return "Expecting ',' delimiter";
    if (has("invalid string")) return std::string(detail.substr(detail.find("invalid string")));
    if (has("while parsing value")) return "Expecting value";
    return std::string(detail);
  }

  // The number token at value_start(), as written.
  std::string number_text() const {
    const char* const end = text_.data() + text_.size();
    const char* p = last_end_;
    while (p < end && std::string_view(" \t\n\r,:").find(*p) != std::string_view::npos) ++p;
    const char* q = p;
    while (q < end && std::string_view("0123456789.eE+-").find(*q) != std::string_view::npos) ++q;
    return std::string(p, q);
  }

  // The error that refused the document while it was parsed, if any.
  const std::optional<ConfigError>& refused() const noexcept { return refused_; }

 private:
  struct Frame {
    enum Kind { kDocument, kClass, kDict, kList } kind;
    std::string key;
    Dict dict;
    List list;
    Place where;
  };

  // Everything read up to now is behind: the next value starts after the separators.
  void mark() { last_end_ = read_to_; }
  // The same after a number, whose end the parser found by reading one character past it
  // (unless the text ended there): that character is not behind yet.
  void mark_number() {
    last_end_ = read_to_;
    if (last_end_ > text_.data() &&
        std::string_view("0123456789.eE+-").find(last_end_[-1]) == std::string_view::npos) {
      --last_end_;
    }
  }

  bool skip() {
    mark();
    return true;
  }

  // Records the first error in the document's structure; parsing goes on (see above).
  bool refuse(const char* python_type, Place where, const std::string& message) {
    if (!refused_) refused_ = make_error(python_type, source_, where, message);
    mark();
    return true;
  }

  // Where the value whose event is being handled starts: the first character after the last
  // event that is not whitespace or a separator.
  Place value_start() const {
    const char* p = last_end_;
    const char* const end = text_.data() + text_.size();
    while (p < end &&
           (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',' || *p == ':')) {
      ++p;
    }
    return place_of(text_, static_cast<std::size_t>(p - text_.data()));
  }

  bool value(Value v, bool number = false) {
    const Place where = value_start();
    if (number) {
      mark_number();
    } else {
      mark();
    }
    if (refused_) return true;
    if (frames_.empty()) {
      return refuse("ValueError", where,
                    "a configuration must be an object of classes, not " + kind_name(v));
    }
    if (frames_.size() == 1) return not_a_class(where, kind_name(v));
    return attach(std::move(v), where);
  }

  bool not_a_class(Place where, const std::string& type) {
    return refuse("ValueError", where,
                  "class " + in_quotes(frames_.back().key) + " must be an object, not " + type);
  }

  bool attach(Value v, Place where) {
    Frame& parent = frames_.back();
    switch (parent.kind) {
      case Frame::kList:
        parent.list.push_back(std::move(v));
        break;
      case Frame::kDict:
        parent.dict.set(parent.key, std::move(v));
        break;
      case Frame::kClass:
        if (parent.key == "__base__") {
          const std::string* base = v.try_get<std::string>();
          if (base == nullptr) {
            return refuse("TypeError", where,
                          "__base__ of class " + in_quotes(current_class_.name) +
                              " must be str, not " + kind_name(v));
          }
          current_class_.base = *base;
          current_class_.base_where = where;
        } else {
          if (parent.key == "__dict__" || parent.key == "__class__") {
            return refuse(
                "ValueError", where,
                "class " + in_quotes(current_class_.name) + " cannot define " + parent.key);
          }
          current_class_.attrs.set(parent.key, std::move(v));
          current_class_.places[parent.key] = where;
        }
        break;
      case Frame::kDocument:
        break;  // classes arrive through end_object
    }
    return true;
  }

  void finish_class() {
    for (DocClass& existing : doc_.classes) {
      if (existing.name == current_class_.name) {  // as Python's json: the last one wins
        existing = std::move(current_class_);
        return;
      }
    }
    doc_.classes.push_back(std::move(current_class_));
  }

 public:
  const char* read_to_;  // how far the parser has read (CountingIterator writes it)

 private:
  std::string_view text_;
  const std::string& source_;
  const char* last_end_;
  std::vector<Frame> frames_;
  std::optional<ConfigError> refused_;
  DocClass current_class_;
  Document doc_;
};

}  // namespace

Document parse_json(std::string_view text, const std::string& source) {
  Builder builder(text, source);
  CountingIterator first(text.data(), &builder.read_to_);
  CountingIterator last(text.data() + text.size(), nullptr);
  nlohmann::json::sax_parse(first, last, &builder);
  if (builder.refused()) throw *builder.refused();
  Document doc = builder.take();
  doc.source = source;
  return doc;
}

Document from_dict(const Dict& document) {
  Document doc;
  doc.source = "<dict>";
  for (const auto [name, value] : document) {
    const Dict* attrs = value.try_get<Dict>();
    if (attrs == nullptr) {
      fail("ValueError", doc.source, {},
           "class " + in_quotes(name) + " must be a dict, not " + kind_name(value));
    }
    DocClass cls;
    cls.name = std::string(name);
    for (const auto [key, attr] : *attrs) {
      if (key == "__base__") {
        const std::string* base = attr.try_get<std::string>();
        if (base == nullptr) {
          fail("TypeError", doc.source, {},
               "__base__ of class " + in_quotes(name) + " must be str, not " + kind_name(attr));
        }
        cls.base = *base;
      } else if (key == "__dict__" || key == "__class__") {
        fail("ValueError", doc.source, {},
             "class " + in_quotes(name) + " cannot define " + std::string(key));
      } else {
        cls.attrs.set(key, attr);
      }
    }
    doc.classes.push_back(std::move(cls));
  }
  return doc;
}

}  // namespace localbag::detail::config

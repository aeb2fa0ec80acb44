// SPDX-License-Identifier: MIT
#include "localbag/local_object.hpp"

#include <cstdint>
#include <mutex>
#include <utility>

#include "class_state.hpp"
#include "class_view.hpp"
#include "localbag/detail/throw.hpp"
#include "runtime.hpp"

namespace localbag {
namespace detail {
namespace {

ObjectState& state_of(ObjectHead* head) { return *static_cast<ObjectState*>(head); }

// References. An object counts the handles that own it (ObjectHead::refs); the one that drops
// the count to 0 destroys it, as a shared_ptr would, with no control block to allocate.

// An owning reference for the length of an operation, kept when init ran (see EnsuredRecord).
class KeepAlive {
 public:
  KeepAlive() noexcept = default;
  explicit KeepAlive(ObjectHead* head) noexcept : head_(head) {
    add_reference(*head_);
  }
  KeepAlive(KeepAlive&& other) noexcept : head_(std::exchange(other.head_, nullptr)) {}
  KeepAlive& operator=(KeepAlive&& other) noexcept {
    if (this != &other) {
      reset();
      head_ = std::exchange(other.head_, nullptr);
    }
    return *this;
  }
  ~KeepAlive() { reset(); }
  // Whether this is the object's only reference left.
  bool only() const noexcept {
    return head_ != nullptr && head_->refs.load(std::memory_order_acquire) == 1;
  }
  void reset() noexcept {
    if (ObjectHead* head = std::exchange(head_, nullptr)) drop_reference(head);
  }

 private:
  ObjectHead* head_ = nullptr;
};

// This thread's record for the object, running init on the thread's first access. If init
// throws, the record is discarded and the next access tries again. Init may drop the caller's
// handle (Python's `self` would keep the object alive): when init ran, `keep_alive` holds the
// object, and the caller keeps it until its operation is done.
struct EnsuredRecord {
  Record& record;
  KeepAlive keep_alive;
};

EnsuredRecord ensure_record(ObjectHead* head, LocalObject& self) {
  ObjectState& object = state_of(head);
  if (Record* record = this_thread_record(object)) return {*record, KeepAlive()};
  Record& record = attach(object);
  KeepAlive keep_alive;
  if (object.class_state->init) {
    keep_alive = KeepAlive(head);
    try {
      object.class_state->init(self, Args(object.args.data(), object.args.size()), object.kwargs);
    } catch (...) {
      discard(record);
      throw;
    }
  }
  return {record, std::move(keep_alive)};
}

// Where a setattr (of `value`) or delattr (`value` null) of `name` writes: this thread's record
// (first access and init done), and the shared slot value when `name` is a slot (`shared` null
// otherwise). `__dict__` is read-only; `__class__` cannot be deleted, and assigning it is refused
// as CPython refuses it for `_thread._local` (and, a documented difference, for subclasses too).
struct WriteTarget {
  Record& record;
  SharedSlots* shared;
  std::size_t at;
  KeepAlive keep_alive;  // see EnsuredRecord
};

WriteTarget write_target(ObjectHead* head, LocalObject& self, Name name,
                         const Value* value) {
  ObjectState& object = state_of(head);
  EnsuredRecord ensured = ensure_record(head, self);
  if (name.text() == "__dict__") throw_dict_read_only(object.class_state->name);
  if (name.text() == "__class__") {
    if (value == nullptr) throw_class_not_deletable();
    const ClassRef* cls = value->try_get<ClassRef>();
    if (cls == nullptr || !*cls) throw_class_not_a_class(value->type_name());
    if (object.cls == Class::local() || *cls == Class::local()) {
      throw_class_assignment_immutable();
    }
    throw_class_assignment_unsupported();
  }
  if (object.shared) {
    if (const int i = object.class_state->slot_index(name.text()); i >= 0) {
      return {ensured.record, object.shared.get(), static_cast<std::size_t>(i),
              std::move(ensured.keep_alive)};
    }
  }
  return {ensured.record, nullptr, 0, std::move(ensured.keep_alive)};
}

}  // namespace

void release_last(ObjectHead* object) noexcept { delete static_cast<ObjectState*>(object); }

}  // namespace detail

using detail::state_of;

LocalObject::LocalObject() : LocalObject(Class::local()) {}

LocalObject::LocalObject(ClassRef cls, std::vector<Value> args, Dict kwargs) {
  if (!cls) detail::throw_no_class();
  if ((!args.empty() || !kwargs.empty()) && !cls->has_init()) {
    detail::throw_init_args_unsupported();
  }
  head_ = new detail::ObjectState(std::move(cls), std::move(args), std::move(kwargs));
  try {
    detail::ensure_record(head_, *this);  // init runs in the constructing thread now
  } catch (...) {
    detail::drop_reference(std::exchange(head_, nullptr));  // init may have kept a copy
    throw;
  }
}

LocalObject::LocalObject(const LocalObject& other, const Class& cls) : LocalObject(other) {
  if (!other.type()->is_subclass_of(cls)) detail::throw_not_instance(other.type()->name(), cls.name());
}

const ClassRef& LocalObject::type() const noexcept { return state_of(head_).cls; }

bool LocalObject::lookup(Name name, detail::FunctionRef<void(const Value&)> visit) const {
  detail::ObjectState& object = state_of(head_);
  const detail::EnsuredRecord ensured =
      detail::ensure_record(head_, const_cast<LocalObject&>(*this));
  detail::Record& record = ensured.record;
  if (object.shared) {
    const int i = object.class_state->slot_index(name.text());
    if (i >= 0) {
      std::lock_guard lock(object.shared->mutex);
      if (!object.shared->present[static_cast<std::size_t>(i)]) return false;
      visit(object.shared->values[static_cast<std::size_t>(i)]);
      return true;
    }
  }
  if (is_dunder_dict(name)) {
    visit(Value(record.dict));
    return true;
  }
  // `__class__` is a data descriptor: it wins over the dict, except for objects of the root class,
  // whose dict CPython's `_thread._local` searches first.
  if (is_dunder_class(name) && (object.cls != Class::local() || !record.dict.contains(name))) {
    visit(Value(object.cls));
    return true;
  }
  if (const Value* v = record.dict.find(name)) {
    visit(*v);
    return true;
  }
  const Dict& view = detail::current_view(record.view, *object.class_state);
  if (const Value* v = view.find(name)) {
    visit(*v);
    return true;
  }
  return false;
}

void LocalObject::throw_missing(std::string_view name) const {
  detail::throw_no_attribute(type()->name(), name);
}

void LocalObject::throw_not_own(std::string_view name) const {
  detail::throw_no_own_attribute(type()->name(), name);
}

void LocalObject::throw_wrong_type(std::string_view name, const Value& held,
                                   detail::TypeNameFn wanted) const {
  detail::throw_attr_wrong_type(type()->name(), name, held, wanted);
}

Value LocalObject::getattr(Name name) const {
  Value out;
  if (!lookup(name, [&](const Value& v) { out = v; })) throw_missing(name.text());
  return out;
}

void LocalObject::setattr_value(Name name, Value value) {
  const detail::WriteTarget target = detail::write_target(head_, *this, name, &value);
  if (target.shared == nullptr) {
    target.record.dict.set(name, std::move(value));
    return;
  }
  {
    std::lock_guard lock(target.shared->mutex);
    swap(target.shared->values[target.at], value);
    target.shared->present[target.at] = true;
  }
  // The old slot value, now in `value`, is destroyed here, outside the lock.
}

void LocalObject::delattr_slow(std::string_view text, const Key* key) {
  const Name name = name_of(text, key);
  const detail::WriteTarget target = detail::write_target(head_, *this, name, nullptr);
  if (target.shared == nullptr) {
    if (!target.record.dict.erase(name)) throw_missing(text);
    return;
  }
  Value old;
  {
    std::lock_guard lock(target.shared->mutex);
    if (!target.shared->present[target.at]) throw_missing(text);
    swap(target.shared->values[target.at], old);
    target.shared->present[target.at] = false;
  }
}

Dict& LocalObject::dict_slow() {
  detail::EnsuredRecord ensured = detail::ensure_record(head_, *this);
  if (ensured.keep_alive.only()) {
    // Init dropped the last handle of the object it initialised, so no one can reach that
    // object's dict any more: release it, and answer for what this handle refers to now.
    ensured.keep_alive.reset();
    return dict();
  }
  return ensured.record.dict;
}

Value LocalObject::call(Name name, Args args) {
  // The method may drop the last handle of this object (a "close" method), and so may another
  // thread, when this handle is reachable from its destruction (a value in a dict that thread
  // destroys): `self` owns a reference until the call returns, as Python's reference to `self`
  // does.
  LocalObject self(*this);
  detail::ObjectState& object = state_of(self.head_);
  detail::Record* record = detail::this_thread_record(object);
  if (record == nullptr) record = &detail::ensure_record(self.head_, self).record;
  // A method found in the class view stays alive while pinned. A callable found in this
  // thread's dict or a slot is copied first: the call may replace or delete the attribute.
  const Value* found = nullptr;
  const Dict* found_in = nullptr;
  Value held;
  const bool own = (object.shared && object.class_state->is_slot(name.text())) ||
                   record->dict.find(name) != nullptr || is_dunder_dict(name);
  if (own) {
    held = self.getattr(name);
    found = &held;
  } else {
    // The view this thread holds when it is the class's current one (the fast path's test),
    // else the current one, taken now.
    found_in = record->view.attrs;
    if (found_in != object.class_view->load(std::memory_order_acquire)) {
      found_in = &detail::current_view(record->view, *object.class_state);
    }
    found = found_in->find(name);
    if (found == nullptr) self.throw_missing(name.text());
  }
  const Function* fn = found->try_get<Function>();
  if (fn == nullptr) detail::throw_not_callable(found->type_name());
  const detail::ViewPin pin(found_in);
  return fn->fn(self, args);
}

namespace detail {
LOCALBAG_LIBRARY_OPS(LocalObject)
}  // namespace detail

}  // namespace localbag

#include "localbag/local_object.hpp"

#include <mutex>

#include "class_state.hpp"
#include "localbag/error.hpp"
#include "runtime.hpp"

namespace localbag {
namespace detail {
namespace {

ObjectCore& core_of(const std::shared_ptr<ObjectHead>& head) {
  return *static_cast<ObjectCore*>(head.get());
}

// This thread's slot for the object, running init on the thread's first access. If init
// throws, the slot is discarded and the next access tries again. Init may drop the caller's
// handle (Python's `self` would keep the object alive): when init ran, `keep_alive` holds the
// object, and the caller keeps it until its operation is done.
struct EnsuredSlot {
  Slot& slot;
  std::shared_ptr<ObjectHead> keep_alive;
};

EnsuredSlot ensure_slot(const std::shared_ptr<ObjectHead>& head, LocalObject& self) {
  ObjectCore& core = core_of(head);
  if (Slot* slot = this_thread_slot(core)) return {*slot, nullptr};
  Slot& slot = attach(core);
  std::shared_ptr<ObjectHead> keep_alive;
  if (core.state->init) {
    keep_alive = head;
    try {
      core.state->init(self, Args(core.args.data(), core.args.size()), core.kwargs);
    } catch (...) {
      discard(slot);
      throw;
    }
  }
  return {slot, std::move(keep_alive)};
}

// Keeps the class snapshots this thread reads alive while a method runs.
class Pin {
 public:
  explicit Pin(Slot& slot) noexcept : slot_(slot) { ++slot_.pins; }
  ~Pin() {
    if (--slot_.pins == 0 && slot_.retired) slot_.retired.reset();
  }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;

 private:
  Slot& slot_;
};

}  // namespace

void throw_attr_wrong_type(const LocalObject& self, std::string_view name, const Value& held,
                           std::string (*wanted_name)()) {
  throw TypeError("'" + self.type()->name() + "' object attribute '" + std::string(name) + "' is " +
                  held.type_name() + ", not " + wanted_name());
}

}  // namespace detail

using detail::core_of;

LocalObject::LocalObject() : LocalObject(Class::local()) {}

LocalObject::LocalObject(ClassRef cls, std::vector<Value> args, Dict kwargs) {
  if (!cls) throw TypeError("LocalObject needs a class");
  if ((!args.empty() || !kwargs.empty()) && !cls->has_init()) {
    throw TypeError("Initialization arguments are not supported");
  }
  core_ = std::make_shared<detail::ObjectCore>(std::move(cls), std::move(args), std::move(kwargs));
  detail::ensure_slot(core_, *this);  // init runs in the constructing thread now
}

LocalObject::LocalObject(const LocalObject& other, const Class& cls) : core_(other.core_) {
  if (!other.type()->is_subclass_of(cls)) {
    throw TypeError("'" + other.type()->name() + "' object is not an instance of '" + cls.name() +
                    "'");
  }
}

const ClassRef& LocalObject::type() const noexcept { return core_of(core_).cls; }

bool LocalObject::lookup(Name name, detail::FunctionRef<void(const Value&)> visit) const {
  detail::ObjectCore& core = core_of(core_);
  const detail::EnsuredSlot ensured = detail::ensure_slot(core_, const_cast<LocalObject&>(*this));
  detail::Slot& slot = ensured.slot;
  if (core.shared) {
    const int i = core.state->slot_index(name.text());
    if (i >= 0) {
      std::lock_guard lock(core.shared->mutex);
      if (!core.shared->present[static_cast<std::size_t>(i)]) return false;
      visit(core.shared->values[static_cast<std::size_t>(i)]);
      return true;
    }
  }
  if (is_dunder_dict(name)) {
    visit(Value(slot.dict));
    return true;
  }
  if (const Value* v = slot.dict.find(name)) {
    visit(*v);
    return true;
  }
  if (const Value* v = detail::current_view(slot, *core.state).attrs.find(name)) {
    visit(*v);
    return true;
  }
  return false;
}

void LocalObject::throw_missing(Name name) const {
  throw AttributeError("'" + type()->name() + "' object has no attribute '" +
                       std::string(name.text()) + "'");
}

void LocalObject::throw_not_own(Name name) const {
  throw AttributeError("'" + type()->name() + "' object has no per-thread attribute '" +
                       std::string(name.text()) + "'");
}

Value LocalObject::getattr(Name name) const {
  Value out;
  if (!lookup(name, [&](const Value& v) { out = v; })) throw_missing(name);
  return out;
}

namespace detail {
namespace {

// Where a setattr or delattr of `name` writes: this thread's slot (first access and init done),
// and the shared slot value when `name` is a slot (`shared` null otherwise). `__dict__` is
// read-only.
struct WriteTarget {
  Slot& slot;
  SharedSlots* shared;
  std::size_t at;
  std::shared_ptr<ObjectHead> keep_alive;  // see EnsuredSlot
};

WriteTarget write_target(const std::shared_ptr<ObjectHead>& head, LocalObject& self, Name name) {
  ObjectCore& core = core_of(head);
  EnsuredSlot ensured = ensure_slot(head, self);
  if (name.text() == "__dict__") {
    throw AttributeError("'" + core.state->name + "' object attribute '__dict__' is read-only");
  }
  if (core.shared) {
    if (const int i = core.state->slot_index(name.text()); i >= 0) {
      return {ensured.slot, core.shared.get(), static_cast<std::size_t>(i),
              std::move(ensured.keep_alive)};
    }
  }
  return {ensured.slot, nullptr, 0, std::move(ensured.keep_alive)};
}

}  // namespace
}  // namespace detail

void LocalObject::setattr_slow(Name name, Value value) {
  const detail::WriteTarget target = detail::write_target(core_, *this, name);
  if (target.shared == nullptr) {
    target.slot.dict.set(name, std::move(value));
    return;
  }
  {
    std::lock_guard lock(target.shared->mutex);
    swap(target.shared->values[target.at], value);
    target.shared->present[target.at] = true;
  }
  // The old slot value, now in `value`, is destroyed here, outside the lock.
}

void LocalObject::delattr_slow(Name name) {
  const detail::WriteTarget target = detail::write_target(core_, *this, name);
  if (target.shared == nullptr) {
    if (!target.slot.dict.erase(name)) throw_missing(name);
    return;
  }
  Value old;
  {
    std::lock_guard lock(target.shared->mutex);
    if (!target.shared->present[target.at]) throw_missing(name);
    swap(target.shared->values[target.at], old);
    target.shared->present[target.at] = false;
  }
}

Dict& LocalObject::dict_slow() {
  detail::EnsuredSlot ensured = detail::ensure_slot(core_, *this);
  if (ensured.keep_alive && ensured.keep_alive.use_count() == 1) {
    // Init dropped the last handle of the object it initialised, so no one can reach that
    // object's dict any more: release it, and answer for what this handle refers to now.
    ensured.keep_alive.reset();
    return dict();
  }
  return ensured.slot.dict;
}

Value LocalObject::call(Name name, Args args) {
  // The method may drop the last handle of this object (a "close" method): `self` keeps it
  // alive until the call returns, as Python's reference to `self` does.
  LocalObject self(*this);
  detail::ObjectCore& core = core_of(self.core_);
  detail::Slot& slot = detail::ensure_slot(self.core_, self).slot;
  detail::Pin pin(slot);
  // A method found in the class snapshot stays alive while pinned. A callable found in this
  // thread's dict or a slot is copied first: the call may replace or delete the attribute.
  const Value* found = nullptr;
  Value held;
  const bool own = (core.shared && core.state->is_slot(name.text())) ||
                   slot.dict.find(name) != nullptr || is_dunder_dict(name);
  if (own) {
    held = self.getattr(name);
    found = &held;
  } else {
    found = detail::current_view(slot, *core.state).attrs.find(name);
    if (found == nullptr) self.throw_missing(name);
  }
  const Function* fn = found->try_get<Function>();
  if (fn == nullptr) throw TypeError("'" + found->type_name() + "' object is not callable");
  return fn->fn(self, args);
}

}  // namespace localbag

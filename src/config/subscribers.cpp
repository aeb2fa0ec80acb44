// SPDX-License-Identifier: MIT
// Config's subscribers: changes and errors delivered one at a time, in order, with no lock held
// but the called subscription's own, and Subscription handles.
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "state.hpp"

namespace localbag {

// Delivers the queued changes and errors in order, one call at a time. One thread delivers at a
// time; a thread that finds another delivering leaves its items to it and returns at once, so no
// thread ever waits for a callback to finish (except Subscription::reset, for its own
// callback). A callback that reloads, or throws, queues an item the same loop delivers next.
void Config::State::deliver() {
  {
    const std::lock_guard lock(subscribers_mutex);
    if (delivering) return;
    delivering = true;
  }
  try {
    for (;;) {
      Delivery item;
      std::vector<std::shared_ptr<Subscription::State>> targets;
      {
        const std::lock_guard lock(subscribers_mutex);
        if (pending.empty()) {
          delivering = false;
          return;
        }
        item = std::move(pending.front());
        pending.pop_front();
        targets = subscribers;
      }
      for (const auto& s : targets) call(*s, item);
    }
  } catch (...) {  // out of memory copying the subscribers: the queue waits for the next call
    const std::lock_guard lock(subscribers_mutex);
    delivering = false;
    throw;
  }
}

// One subscriber's call for one item, under its `running` mutex (so that reset() on another
// thread waits for it). An update callback's exception becomes an error item.
void Config::State::call(Subscription::State& s, const Delivery& item) {
  const bool update = item.update.has_value();
  if (update ? !s.on_update : !s.on_error) return;
  const std::lock_guard running(s.running);
  if (!s.active.load(std::memory_order_acquire)) return;
  s.runner.store(std::this_thread::get_id(), std::memory_order_relaxed);
  struct Clear {
    std::atomic<std::thread::id>& runner;
    ~Clear() { runner.store({}, std::memory_order_relaxed); }
  } clear{s.runner};
  try {
    if (update) {
      s.on_update(*item.update);
    } else {
      s.on_error(*item.error);
    }
  } catch (const std::exception& e) {
    if (!update) return;  // an error handler's own error has nowhere to go
    const char* type = "RuntimeError";
    if (const auto* error = dynamic_cast<const Error*>(&e)) type = error->python_type();
    queue(Delivery{std::nullopt, cfg::make_error(type, source, {},
                                                 std::string("a subscriber raised: ") + e.what())});
  } catch (...) {
    if (update) {
      queue(
          Delivery{std::nullopt, cfg::make_error("RuntimeError", source, {},
                                                 "a subscriber raised a non-standard exception")});
    }
  }
}

void Config::State::queue(Delivery item) {
  const std::lock_guard lock(subscribers_mutex);
  pending.push_back(std::move(item));
}

// Gives `error` to the error handlers, in order with the changes.
void Config::State::report(const ConfigError& error) {
  queue(Delivery{std::nullopt, error});
  deliver();
}

Config::Subscription Config::subscribe(std::function<void(const ConfigUpdate&)> fn) {
  auto s = std::make_shared<Subscription::State>();
  s->on_update = std::move(fn);
  s->owner = state_;
  const std::lock_guard lock(state_->subscribers_mutex);
  state_->subscribers.push_back(s);
  return Subscription(std::move(s));
}

Config::Subscription Config::on_error(std::function<void(const ConfigError&)> fn) {
  auto s = std::make_shared<Subscription::State>();
  s->on_error = std::move(fn);
  s->owner = state_;
  const std::lock_guard lock(state_->subscribers_mutex);
  state_->subscribers.push_back(s);
  return Subscription(std::move(s));
}

Config::Subscription& Config::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
  }
  return *this;
}

Config::Subscription::~Subscription() { reset(); }

void Config::Subscription::reset() noexcept {
  const std::shared_ptr<State> s = std::move(state_);
  if (!s) return;
  if (s->runner.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
    s->active.store(false, std::memory_order_release);  // inside its own callback
  } else {
    const std::lock_guard running(s->running);  // waits for a call running elsewhere
    s->active.store(false, std::memory_order_release);
  }
  if (const std::shared_ptr<Config::State> owner = s->owner.lock()) {
    const std::lock_guard lock(owner->subscribers_mutex);
    std::erase(owner->subscribers, s);
  }
}

}  // namespace localbag

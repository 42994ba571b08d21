// threads.cpp - a glibc C++ program (g++ -static -O2 -pthread): iostream
// output, exceptions thrown and caught across functions and carried across
// threads (std::exception_ptr, std::promise, std::async), std::thread with
// std::mutex and std::condition_variable, std::shared_mutex, std::call_once,
// std::async and futures, and thread_local objects with destructors. The
// output does not depend on scheduling; runner/tests/languages.rs compares
// it with a native run. With the argument "terminate" an exception nobody
// catches ends the program through std::terminate and abort (SIGABRT).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <future>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <shared_mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Depth : std::runtime_error {
    int level;
    Depth(const std::string &what, int level) : std::runtime_error(what), level(level) {}
};

int dive(int n) {
    std::vector<int> keep(static_cast<size_t>(n) + 1, n);  // unwinding frees it
    if (n == 0) throw Depth("bottom reached", static_cast<int>(keep.size()));
    return dive(n - 1) + keep[0];
}

void exceptions() {
    try {
        dive(25);
        std::cout << "no throw?\n";
    } catch (const Depth &e) {
        std::cout << "caught Depth across 26 frames: " << e.what() << ", level " << e.level << '\n';
    }
    try {
        try {
            std::vector<int> v(3);
            (void)v.at(7);
        } catch (const std::out_of_range &) {
            std::cout << "out_of_range from vector::at, rethrown as ";
            throw std::logic_error("a logic_error");
        }
    } catch (const std::exception &e) {
        std::cout << e.what() << '\n';
    }
    try {
        throw 42;
    } catch (int v) {
        std::cout << "caught an int: " << v << '\n';
    }
}

// An exception thrown in one thread, caught in another.
void across_threads() {
    std::exception_ptr carried;
    std::thread t([&carried] {
        try {
            dive(10);
        } catch (...) {
            carried = std::current_exception();
        }
    });
    t.join();
    try {
        if (carried) std::rethrow_exception(carried);
        std::cout << "nothing carried?\n";
    } catch (const Depth &e) {
        std::cout << "exception_ptr across a thread: " << e.what() << ", level " << e.level << '\n';
    }

    std::promise<int> promise;
    std::future<int> fut = promise.get_future();
    std::thread p([&promise] {
        try {
            throw std::invalid_argument("set through a promise");
        } catch (...) {
            promise.set_exception(std::current_exception());
        }
    });
    try {
        int v = fut.get();
        std::cout << "promise value " << v << "?\n";
    } catch (const std::invalid_argument &e) {
        std::cout << "promise exception: " << e.what() << '\n';
    }
    p.join();

    // Thrown and caught inside each of several threads at once.
    std::atomic<int> caught{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; i++)
        ts.emplace_back([&caught, i] {
            for (int k = 0; k < 50; k++) {
                try {
                    dive(i + k % 5);
                } catch (const Depth &) {
                    caught++;
                }
            }
        });
    for (auto &t : ts) t.join();
    std::cout << "exceptions caught in 8 threads at once: " << caught << '\n';
}

// A bounded queue: std::mutex and two std::condition_variables.
class Queue {
  public:
    void push(int v) {
        std::unique_lock<std::mutex> lock(m_);
        not_full_.wait(lock, [this] { return items_.size() < 8; });
        items_.push_back(v);
        not_empty_.notify_one();
    }
    bool pop(int &v) {
        std::unique_lock<std::mutex> lock(m_);
        not_empty_.wait(lock, [this] { return !items_.empty() || closed_; });
        if (items_.empty()) return false;
        v = items_.front();
        items_.pop_front();
        not_full_.notify_one();
        return true;
    }
    void close() {
        std::lock_guard<std::mutex> lock(m_);
        closed_ = true;
        not_empty_.notify_all();
    }

  private:
    std::mutex m_;
    std::condition_variable not_empty_, not_full_;
    std::deque<int> items_;
    bool closed_ = false;
};

void producers_consumers() {
    Queue q;
    std::vector<std::thread> producers, consumers;
    std::vector<long> sums(3, 0);
    for (int p = 0; p < 4; p++)
        producers.emplace_back([&q, p] {
            for (int i = 1; i <= 1000; i++) q.push(p * 1000 + i);
        });
    for (int c = 0; c < 3; c++)
        consumers.emplace_back([&q, &sums, c] {
            int v;
            while (q.pop(v)) sums[static_cast<size_t>(c)] += v;
        });
    for (auto &t : producers) t.join();
    q.close();
    for (auto &t : consumers) t.join();
    std::cout << "queue: 4 producers, 3 consumers, sum "
              << std::accumulate(sums.begin(), sums.end(), 0L) << '\n';
}

void shared_and_once() {
    std::shared_mutex rw;
    std::map<int, int> table;
    std::atomic<int> torn{0};
    std::once_flag once;
    std::atomic<int> init_runs{0};
    std::vector<std::thread> ts;
    for (int id = 0; id < 6; id++)
        ts.emplace_back([&, id] {
            std::call_once(once, [&init_runs] { init_runs++; });
            for (int i = 0; i < 500; i++) {
                if (i % 6 == id) {
                    std::unique_lock<std::shared_mutex> w(rw);
                    for (int k = 0; k < 16; k++) table[k]++;
                } else {
                    std::shared_lock<std::shared_mutex> r(rw);
                    if (!table.empty())
                        for (int k = 1; k < 16; k++)
                            if (table[k] != table[0]) torn++;
                }
            }
        });
    for (auto &t : ts) t.join();
    std::cout << "shared_mutex: table[0] " << table[0] << ", torn " << torn << "; call_once ran "
              << init_runs << " time\n";
}

unsigned long long fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

void asyncs() {
    std::vector<std::future<unsigned long long>> fs;
    for (unsigned n = 20; n < 26; n++) fs.push_back(std::async(std::launch::async, fib, n));
    std::ostringstream out;
    for (auto &f : fs) out << ' ' << f.get();
    std::cout << "async fib(20..25):" << out.str() << '\n';
    auto deferred = std::async(std::launch::deferred, [] { return std::string("deferred ran"); });
    std::cout << deferred.get() << '\n';
    auto failing = std::async(std::launch::async, []() -> int { throw std::overflow_error("from async"); });
    try {
        failing.get();
    } catch (const std::overflow_error &e) {
        std::cout << "async exception: " << e.what() << '\n';
    }
    std::packaged_task<int(int, int)> task([](int a, int b) { return a * b; });
    auto product = task.get_future();
    std::thread(std::move(task), 6, 7).join();
    std::cout << "packaged_task: " << product.get() << '\n';
}

// thread_local objects whose destructors run when each thread ends.
std::mutex log_lock;
std::vector<int> destroyed;

struct Tracker {
    int id = -1;
    std::string name;
    ~Tracker() {
        if (id < 0) return;
        std::lock_guard<std::mutex> lock(log_lock);
        destroyed.push_back(id);
    }
};

thread_local Tracker tracker;
thread_local int counter = 100;

void thread_locals() {
    std::vector<std::thread> ts;
    std::atomic<int> seen{0};
    for (int i = 0; i < 10; i++)
        ts.emplace_back([i, &seen] {
            tracker.id = i;
            tracker.name = "thread " + std::to_string(i);
            counter += i;
            seen += counter;
        });
    for (auto &t : ts) t.join();
    std::sort(destroyed.begin(), destroyed.end());
    std::cout << "thread_local: counters " << seen << ", main's " << counter << ", destructors ran for";
    for (int d : destroyed) std::cout << ' ' << d;
    std::cout << '\n';
}

void formatting() {
    std::cout << std::fixed << std::setprecision(3) << 3.14159265 << ' ' << std::setw(8)
              << std::setfill('.') << 42 << ' ' << std::hex << 255 << std::dec << ' '
              << std::scientific << 12345.678 << std::defaultfloat << '\n';
    std::cerr << "a line on std::cerr\n";
}

}  // namespace

int main(int argc, char **argv) {
    if (argc > 1 && std::string(argv[1]) == "terminate") {
        std::cout << "about to throw past main" << std::endl;
        std::thread([] { throw std::runtime_error("nobody catches this"); }).join();
        return 0;
    }
    formatting();
    exceptions();
    across_threads();
    producers_consumers();
    shared_and_once();
    asyncs();
    thread_locals();
    std::cout << "done" << std::endl;
    return 0;
}

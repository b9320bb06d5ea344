//===- PunctualFileStoreTest.cpp - the rendezvous store's wait -----------===//
#include "runtime/comm/PunctualFileStore.h"

#include "gtest/gtest.h"

#include <filesystem>
#include <stdexcept>
#include <unistd.h>

using namespace tpc::comm;
using namespace std::chrono_literals;

namespace {
/// A fresh directory for one test's store, removed afterwards.
struct StoreDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("tpc-store-test." + std::to_string(::getpid()) + "." +
       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  StoreDir() { std::filesystem::create_directories(path); }
  ~StoreDir() { std::filesystem::remove_all(path); }
};

// Gloo's own FileStore gives up on a 1000 ms wait only after 2 s (it
// compares whole seconds elapsed with the timeout); this one at 1 s.
TEST(PunctualFileStore, GivesUpAtItsTimeout) {
  StoreDir dir;
  PunctualFileStore store(dir.path.string());
  auto start = std::chrono::steady_clock::now();
  try {
    store.wait({"missing"}, 1000ms);
    FAIL() << "a wait for a key nobody sets returned";
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("Wait timeout for key(s): missing"),
              std::string::npos)
        << e.what();
  }
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 1000ms);
  EXPECT_LT(waited, 1500ms);
}

TEST(PunctualFileStore, ReturnsOnceTheKeysAreSet) {
  StoreDir dir;
  PunctualFileStore store(dir.path.string());
  store.set("a", {1});
  store.set("b", {2});
  auto start = std::chrono::steady_clock::now();
  store.wait({"a", "b"}, 1000ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  EXPECT_EQ(store.get("b"), std::vector<char>{2});
}
} // namespace

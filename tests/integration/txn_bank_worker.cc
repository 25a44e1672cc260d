// A bank client process for txn_process_test (bank.h): transfers for a
// while, one line per transfer on stdout:
//   MARKER FROM TO AMOUNT committed|aborted|unknown
// Usage: txn_bank_worker SCHEDULER ID ACCOUNTS SECONDS
#include <chrono>
#include <iostream>
#include <string>

#include "bank.h"

int main(int argc, char** argv) {
  using namespace tinykv;
  if (argc != 5) {
    std::cerr << "usage: txn_bank_worker SCHEDULER ID ACCOUNTS SECONDS\n";
    return 2;
  }
  const int id = std::stoi(argv[2]);
  const int accounts = std::stoi(argv[3]);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(std::stoi(argv[4]));
  auto c = client::TxnClient::Connect(argv[1]);
  if (!c.ok()) {
    std::cerr << "connect: " << c.status().ToString() << "\n";
    return 2;
  }
  std::mt19937 rng(static_cast<unsigned>(id) * 7919u + 1);
  for (int n = 0; std::chrono::steady_clock::now() < until; ++n) {
    auto done = bank::RunTransfer(**c, rng, accounts, id, n);
    if (!done) continue;
    const auto& [marker, tr] = *done;
    std::cout << marker << " " << tr.from << " " << tr.to << " " << tr.amount << " " << tr.outcome
              << std::endl;
  }
  return 0;
}

// Child processes for tests that drive the real binaries. Tests only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tinykv::testing {

struct CommandResult {
  int exit_code;  // the exit status, or 128 + signal number if killed
  std::string out;
  std::string err;
};

// Runs argv[0] with `stdin_data` on its standard input and waits for it.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_data = "");

// A long-running child whose stdout and stderr go to `log_path`. The
// destructor kills it with SIGKILL if it still runs, and the child gets
// SIGKILL if the thread that started it dies (PR_SET_PDEATHSIG), so even a
// test that aborts leaves no process behind. Start it from the test's main
// thread.
class Subprocess {
 public:
  Subprocess(const std::vector<std::string>& argv, const std::string& log_path);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for the exit and returns the status as in CommandResult::exit_code.
  int Wait();
  bool Running();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Polls `condition` every few milliseconds until it holds or `timeout` passes;
// returns whether it held. For waiting on other processes, which no test
// clock controls.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A loopback TCP port nobody listens on now, and never one this process
// handed out before (another process could still take it before the caller
// binds it: loopback tests only).
int FreePort();

// The contents of a file, or "" if it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace tinykv::testing

#include "testing/subprocess.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/check.h"

extern char** environ;

namespace tinykv::testing {
namespace {

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_data) {
  // A child that exits before reading all its input must not kill the test.
  signal(SIGPIPE, SIG_IGN);
  int in[2], out[2], err[2];
  TKV_CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  pid_t pid;
  auto args = Argv(argv);
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  TKV_CHECK(rc == 0, "cannot start {}: {}", argv[0], strerror(rc));
  close(in[0]);
  close(out[1]);
  close(err[1]);

  // Feed stdin and drain both outputs together, so that no pipe fills up.
  std::string collected[2];
  size_t written = 0;
  int in_fd = in[1];
  // Non-blocking: a write larger than the pipe's free space must not wait
  // for the child, which may itself be waiting for us to read its output.
  fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  if (stdin_data.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  int open_outputs = 2;
  while (open_outputs > 0 || in_fd >= 0) {
    pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    if (poll(fds, 3, -1) < 0) {
      TKV_CHECK(errno == EINTR);
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        collected[i].append(buf, n);
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        (i == 0 ? out[0] : err[0]) = -1;
        --open_outputs;
      }
    }
    if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(in_fd, stdin_data.data() + written, stdin_data.size() - written);
      if (n > 0) written += n;
      bool again = n < 0 && (errno == EAGAIN || errno == EINTR);
      if ((n < 0 && !again) || written == stdin_data.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  int status = 0;
  TKV_CHECK(waitpid(pid, &status, 0) == pid);
  return {DecodeStatus(status), std::move(collected[0]), std::move(collected[1])};
}

Subprocess::Subprocess(const std::vector<std::string>& argv, const std::string& log_path) {
  auto args = Argv(argv);
  // Prepared before fork: the child may only make async-signal-safe calls.
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  TKV_CHECK(log_fd >= 0 && null_fd >= 0, "cannot open {}", log_path);
  pid_t parent = getpid();
  pid_t pid = fork();
  TKV_CHECK(pid >= 0, "fork failed");
  if (pid == 0) {
    // Die with the test (even if it aborts and runs no destructor), and don't
    // miss it if it already died before this line.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  pid_ = pid;
}

Subprocess::~Subprocess() {
  if (!reaped_) {
    kill(pid_, SIGKILL);
    Wait();
  }
}

void Subprocess::Signal(int sig) {
  if (!reaped_) kill(pid_, sig);
}

int Subprocess::Wait() {
  if (!reaped_) {
    while (waitpid(pid_, &status_, 0) < 0) TKV_CHECK(errno == EINTR);
    reaped_ = true;
  }
  return DecodeStatus(status_);
}

bool Subprocess::Running() {
  if (reaped_) return false;
  pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int FreePort() {
  // Never the same port twice in one process: the processes a test starts
  // bind theirs later, so two calls could otherwise be handed the same
  // ephemeral port. And below the ephemeral range (32768 and up), where the
  // kernel does not pick ports for outgoing connections, at random so that
  // test processes running side by side rarely try the same one.
  static std::mutex mu;
  static std::set<int> handed_out;
  static std::mt19937 rng(static_cast<uint32_t>(getpid()) ^
                          static_cast<uint32_t>(std::random_device{}()));
  std::lock_guard<std::mutex> lock(mu);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int port = 20000 + static_cast<int>(rng() % 12000);
    if (handed_out.count(port) != 0) continue;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    TKV_CHECK(fd >= 0, "socket: {}", strerror(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool free = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (!free) continue;
    handed_out.insert(port);
    return port;
  }
  TKV_PANIC("no free loopback port found in [20000, 32000)");
}

}  // namespace tinykv::testing

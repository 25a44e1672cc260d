#include "common/thread_name.h"

#include <pthread.h>

#include <string>

namespace tinykv {

void NameThisThread(std::string_view name) {
  std::string cut(name.substr(0, 15));
  // Best effort: a name is for people looking at the process, nothing
  // depends on it.
  (void)pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace tinykv

// Names the calling thread, so that top -H, perf and gdb tell the store's
// threads apart ("raft-poller", "raft-to-2", ...).
#pragma once

#include <string_view>

namespace tinykv {

// Linux keeps at most 15 characters; longer names are cut.
void NameThisThread(std::string_view name);

}  // namespace tinykv

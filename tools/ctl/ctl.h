// tinykv-ctl: the command-line client. RunCtl is the whole program, with its
// output streams injected so that tests can run it in-process.
//
//   tinykv-ctl [--scheduler HOST:PORT | --addr HOST:PORT] [--json] [--hex]
//              [--timeout SECONDS] <command>
//     raw get KEY [--cf CF]                  prints the value alone
//     raw put KEY VALUE [--cf CF]            or: raw put KEY --value-file PATH|-
//     raw delete KEY [--cf CF]
//     raw scan START [--end END] [--limit N] [--cf CF]   prints KEY<TAB>VALUE lines
//     raw batch-put [--cf CF]                KEY<TAB>VALUE lines from stdin
//     raw batch-get [--cf CF]                KEY lines from stdin; prints KEY<TAB>VALUE
//     health                                 SERVING, or an error (one store, --addr)
//   with --scheduler (a cluster):
//     txn get KEY | put KEY VALUE | delete KEY | scan START [--end END] [--limit N]
//                                            one-statement transactions
//     txn script                             lines of stdin: begin, get KEY, put KEY VALUE,
//                                            delete KEY, scan START [END [LIMIT]], commit,
//                                            rollback; prints BEGIN ts, values, COMMIT ts
//     cluster [--regions N]                  stores and regions at a glance
//     region KEY | region --id ID            the region holding KEY
//     operator add-peer REGION STORE | remove-peer REGION STORE |
//              transfer-leader REGION STORE | split REGION [KEY] | show REGION
//     store delete ID                        drain the store, then it is a tombstone
//     wait [--stores N] [--for SECONDS]      until N stores are up and regions replicated
//
// With --scheduler, raw commands go to the leader of the key's region (found
// through the scheduler); with --addr, to that one store (a standalone
// server). Keys and values are written escaped on the command line and
// printed escaped ("\x00", "\\", "\n"; plain text is unchanged), or in hex
// with --hex. Exit status: 0 success, 1 `raw get` found nothing, 2 any error
// (one line on stderr; with --json also {"error": ...} on stdout). A write
// whose outcome is unknown (it may or may not have applied) is an error with
// code DeadlineExceeded; a transaction that could not commit (a write
// conflict) is an error with code Aborted: run it again.
#pragma once

#include <ostream>

namespace tinykv::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitNotFound = 1;
inline constexpr int kExitError = 2;

int RunCtl(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace tinykv::ctl

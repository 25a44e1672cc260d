#include "ctl.h"

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/store_client.h"
#include "common/bytes.h"

namespace tinykv::ctl {
namespace {

using nlohmann::json;

struct Options {
  std::string addr = "127.0.0.1:20160";
  bool json = false;
  bool hex = false;
  double timeout_s = 10;
  // Command arguments.
  std::string cf = "default";
  std::string key;
  std::string value;
  std::string value_file;
  uint32_t limit = 100;
};

class Command {
 public:
  Command(const Options& o, std::ostream& out, std::ostream& err) : o_(o), out_(out), err_(err) {}

  std::string Encode(std::string_view bytes) const {
    return o_.hex ? ToHex(bytes) : EscapeBytes(bytes);
  }

  Result<std::string> Decode(const std::string& text, const char* what) const {
    auto r = o_.hex ? FromHex(text) : UnescapeBytes(text);
    if (!r.ok()) return r.status().WithContext(what);
    return r;
  }

  int Error(const Status& s) {
    err_ << "tinykv-ctl: " << s.ToString() << "\n";
    if (o_.json) {
      out_ << json{{"error", {{"code", std::string(CodeName(s.code()))}, {"message", s.message()}}}}
                  .dump()
           << "\n";
    }
    return kExitError;
  }

  int Ok() {
    out_ << (o_.json ? json{{"ok", true}}.dump() : std::string("OK")) << "\n";
    return kExitOk;
  }

  client::StoreClient Client() const {
    client::StoreClientOptions co;
    co.timeout = std::chrono::milliseconds(static_cast<int64_t>(o_.timeout_s * 1000));
    return client::StoreClient(o_.addr, co);
  }

  int Get() {
    auto key = Decode(o_.key, "KEY");
    if (!key.ok()) return Error(key.status());
    auto v = Client().RawGet(o_.cf, *key);
    if (!v.ok()) return Error(v.status());
    if (!v->has_value()) {
      if (o_.json) out_ << json{{"key", Encode(*key)}, {"found", false}}.dump() << "\n";
      err_ << "tinykv-ctl: not found\n";
      return kExitNotFound;
    }
    if (o_.json) {
      out_ << json{{"key", Encode(*key)}, {"found", true}, {"value", Encode(**v)}}.dump() << "\n";
    } else {
      out_ << Encode(**v) << "\n";
    }
    return kExitOk;
  }

  int Put(bool value_given) {
    auto key = Decode(o_.key, "KEY");
    if (!key.ok()) return Error(key.status());
    if (value_given == !o_.value_file.empty()) {
      return Error(
          Status::InvalidArgument("give either VALUE or --value-file, not both or neither"));
    }
    std::string value;
    if (!o_.value_file.empty()) {
      auto read = ReadValueFile(o_.value_file);
      if (!read.ok()) return Error(read.status());
      value = std::move(read).value();
    } else {
      auto decoded = Decode(o_.value, "VALUE");
      if (!decoded.ok()) return Error(decoded.status());
      value = std::move(decoded).value();
    }
    Status s = Client().RawPut(o_.cf, *key, value);
    return s.ok() ? Ok() : Error(s);
  }

  int Delete() {
    auto key = Decode(o_.key, "KEY");
    if (!key.ok()) return Error(key.status());
    Status s = Client().RawDelete(o_.cf, *key);
    return s.ok() ? Ok() : Error(s);
  }

  int Scan() {
    auto start = Decode(o_.key, "START");
    if (!start.ok()) return Error(start.status());
    auto kvs = Client().RawScan(o_.cf, *start, o_.limit);
    if (!kvs.ok()) return Error(kvs.status());
    if (o_.json) {
      json arr = json::array();
      for (const auto& kv : *kvs)
        arr.push_back({{"key", Encode(kv.key)}, {"value", Encode(kv.value)}});
      out_ << json{{"kvs", arr}}.dump() << "\n";
    } else {
      for (const auto& kv : *kvs) out_ << Encode(kv.key) << "\t" << Encode(kv.value) << "\n";
    }
    return kExitOk;
  }

  int Health() {
    Status s = Client().Health();
    if (!s.ok()) return Error(s);
    out_ << (o_.json ? json{{"status", "SERVING"}}.dump() : std::string("SERVING")) << "\n";
    return kExitOk;
  }

 private:
  static Result<std::string> ReadValueFile(const std::string& path) {
    if (path == "-") {
      return std::string(std::istreambuf_iterator<char>(std::cin),
                         std::istreambuf_iterator<char>());
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::IOError("cannot read " + path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  const Options& o_;
  std::ostream& out_;
  std::ostream& err_;
};

}  // namespace

int RunCtl(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  Options o;
  CLI::App app{"tinykv-ctl: the TinyKV command-line client", "tinykv-ctl"};
  app.set_help_all_flag("--help-all", "help for every command");
  app.add_option("--addr", o.addr, "store address HOST:PORT")
      ->envname("TINYKV_ADDR")
      ->capture_default_str();
  app.add_flag("--json", o.json, "machine-readable output");
  app.add_flag("--hex", o.hex, "keys and values in hex, in arguments and output");
  app.add_option("--timeout", o.timeout_s, "seconds to wait for each call")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.require_subcommand(1);

  CLI::App* raw = app.add_subcommand("raw", "raw key-value commands");
  raw->require_subcommand(1);
  auto add_cf = [&](CLI::App* c) {
    c->add_option("--cf", o.cf, "column family: default, lock or write")->capture_default_str();
  };
  CLI::App* get = raw->add_subcommand("get", "print the value of KEY (exit 1 if there is none)");
  get->add_option("KEY", o.key, "the key")->required();
  add_cf(get);
  CLI::App* put = raw->add_subcommand("put", "set KEY to VALUE");
  put->add_option("KEY", o.key, "the key")->required();
  CLI::Option* value_opt = put->add_option("VALUE", o.value, "the value");
  put->add_option("--value-file", o.value_file,
                  "read the value, as raw bytes, from this file ('-': stdin)");
  add_cf(put);
  CLI::App* del = raw->add_subcommand("delete", "delete KEY");
  del->add_option("KEY", o.key, "the key")->required();
  add_cf(del);
  CLI::App* scan =
      raw->add_subcommand("scan", "print up to --limit pairs from START on, in key order");
  scan->add_option("START", o.key, "first key (\"\" for the beginning)")->required();
  scan->add_option("--limit", o.limit, "most pairs to print")->capture_default_str();
  add_cf(scan);
  CLI::App* health = app.add_subcommand("health", "check that the store serves");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitError;
  }

  Command cmd(o, out, err);
  if (*get) return cmd.Get();
  if (*put) return cmd.Put(value_opt->count() > 0);
  if (*del) return cmd.Delete();
  if (*scan) return cmd.Scan();
  if (*health) return cmd.Health();
  return kExitError;  // unreachable: CLI11 requires a subcommand
}

}  // namespace tinykv::ctl

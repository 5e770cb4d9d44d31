#include "cli.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <utility>

namespace kvsctl {
namespace {

// How a flag's value is checked; the server checks the rest (a TTL's syntax, a scope's name).
enum class ValueKind { kSwitch, kText, kCount, kFormat };

struct FlagInfo {
  std::string_view name;
  ValueKind kind;
  bool global;
};

// Every flag kvsctl knows. One name has one arity everywhere, so that flags can be parsed
// before the command is known (`kvsctl --ttl 5s put k 1` works like `kvsctl put k 1 --ttl 5s`).
constexpr FlagInfo kFlags[] = {
    {"endpoint", ValueKind::kText, true},   {"token", ValueKind::kText, true},
    {"token-file", ValueKind::kText, true}, {"cacert", ValueKind::kText, true},
    {"output", ValueKind::kFormat, true},   {"help", ValueKind::kSwitch, true},
    {"version", ValueKind::kSwitch, true},  {"ttl", ValueKind::kText, false},
    {"if-match", ValueKind::kText, false},  {"create-only", ValueKind::kSwitch, false},
    {"prefix", ValueKind::kText, false},    {"start", ValueKind::kText, false},
    {"end", ValueKind::kText, false},       {"limit", ValueKind::kCount, false},
    {"values", ValueKind::kSwitch, false},  {"since", ValueKind::kText, false},
    {"revision", ValueKind::kCount, false}, {"scopes", ValueKind::kText, false},
    {"nickname", ValueKind::kText, false},  {"name", ValueKind::kText, false},
    {"members", ValueKind::kText, false},   {"user", ValueKind::kText, false},
    {"head-seq", ValueKind::kText, false},  {"head-hash", ValueKind::kText, false},
};

const FlagInfo* find_flag(std::string_view name) {
  for (const auto& flag : kFlags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

struct FlagHelp {
  std::string_view flag;    // "ttl"
  std::string_view syntax;  // "--ttl D"
  std::string_view text;    // what it does
};

// One runnable thing: a command without actions, or one action of a command.
struct ActionSpec {
  std::string_view action;  // "" for a command without actions
  std::string_view usage;   // operands, after "kvsctl <command> [<action>] "
  std::string_view summary;
  std::size_t min_operands;
  std::size_t max_operands;
  std::vector<FlagHelp> flags;
};

struct CommandSpec {
  std::string_view name;
  std::string_view summary;
  std::vector<ActionSpec> actions;  // one with action "" for a command without actions

  bool has_actions() const { return !actions.empty() && !actions.front().action.empty(); }
  const ActionSpec* find(std::string_view action) const {
    for (const auto& spec : actions) {
      if (spec.action == action) return &spec;
    }
    return nullptr;
  }
};

const std::vector<CommandSpec>& commands() {
  static const std::vector<CommandSpec> kCommands = {
      {"get", "read a key", {{"", "KEY", "Prints the key's current version: {\"uuid\",\"timestamp\",\"data\"}.", 1, 1,
        {{"revision", "--revision N", "an earlier revision (see `kvsctl history`)"}}}}},
      {"put", "write a key", {{"", "KEY JSON|-", "Writes a JSON document (`-`: read it from stdin).", 2, 2,
        {{"ttl", "--ttl D", "expire the key after D (Go duration: 30s, 5m, 1h30m)"},
         {"if-match", "--if-match UUID", "only while the current version has this uuid"},
         {"create-only", "--create-only", "only when the key does not exist yet (If-None-Match: *)"}}}}},
      {"del", "delete a key", {{"", "KEY", "Deletes a key (a tombstone that replicates).", 1, 1,
        {{"if-match", "--if-match UUID", "only while the current version has this uuid"}}}}},
      {"ls", "list one level under a prefix", {{"", "[PREFIX]",
        "Lists the keys and sub-prefixes one level under PREFIX (the top level when absent),\n"
        "following every page.", 0, 1, {}}}},
      {"range", "list keys in key order", {{"", "",
        "Lists one page of keys in key order (start inclusive, end exclusive). When\n"
        "next_start_key is not null, pass it as --start for the next page.", 0, 0,
        {{"prefix", "--prefix P", "only keys starting with P"},
         {"start", "--start K", "from key K (inclusive)"},
         {"end", "--end K", "up to key K (exclusive)"},
         {"limit", "--limit N", "at most N keys (server default 100, at most 10000)"},
         {"values", "--values", "include each key's document"}}}}},
      {"history", "list a key's revisions", {{"", "KEY", "Lists the revisions this node applied, newest first.", 1, 1, {}}}},
      {"watch", "stream changes under a prefix", {{"", "[PREFIX]",
        "Prints every change under PREFIX as one JSON line as it arrives (-o table: one\n"
        "readable line), until the server ends the stream, Ctrl-C, or the reader of its output\n"
        "goes away; each exits 0. A cursor from an event, or from `range`/`ls`, resumes with\n"
        "--since with no gap and no duplicate; resync_required says the server could not.", 0, 1,
        {{"since", "--since C", "first every change after cursor C, then live ones"},
         {"values", "--values", "include the documents of put events"}}}}},
      {"members", "list the cluster's members", {{"", "", "Lists the members this node knows, itself included.", 0, 0, {}}}},
      {"leave", "make the node leave its cluster", {{"", "",
        "Makes the node leave its cluster gracefully (admin): its peers drop it at once and it\n"
        "runs standalone from then on.", 0, 0, {}}}},
      {"health", "show the node's health", {{"", "", "Shows the node's status, mode, member count and key count.", 0, 0, {}}}},
      {"ready", "ask whether the node takes traffic", {{"", "",
        "Prints the node's readiness ({\"ready\",\"mode\"}, and \"reason\" when not ready) and exits\n"
        "0 when it is ready, 1 when it is not (syncing, or short of disk space).", 0, 0, {}}}},
      {"user", "manage users (admin)", {
        {"create", "NICKNAME", "Creates a user.", 1, 1,
         {{"scopes", "--scopes S", "comma-separated: read,write,admin (default read,write)"}}},
        {"list", "", "Lists the users.", 0, 0, {}},
        {"get", "UUID", "Shows a user.", 1, 1, {}},
        {"update", "UUID", "Changes a user's nickname or scopes.", 1, 1,
         {{"nickname", "--nickname N", "the new nickname"},
          {"scopes", "--scopes S", "the new scopes, comma-separated"}}},
        {"delete", "UUID", "Deletes a user.", 1, 1, {}}}},
      {"group", "manage groups (admin)", {
        {"create", "NAME", "Creates a group.", 1, 1,
         {{"members", "--members U,...", "the member users' uuids, comma-separated"}}},
        {"get", "UUID", "Shows a group.", 1, 1, {}},
        {"update", "UUID", "Renames a group or replaces its members.", 1, 1,
         {{"name", "--name N", "the new name"},
          {"members", "--members U,...", "the new member uuids, comma-separated (\"\" for none)"}}},
        {"delete", "UUID", "Deletes a group.", 1, 1, {}}}},
      {"token", "mint and revoke tokens", {
        {"create", "", "Mints a token (for the caller itself unless --user is given).", 0, 0,
         {{"user", "--user UUID", "the user the token is for (admin only for another user)"},
          {"scopes", "--scopes S", "comma-separated subset of the user's scopes"},
          {"ttl", "--ttl D", "lifetime (server default: token_ttl)"}}},
        {"revoke", "JTI", "Revokes a token on every node (its jti, from `token create`).", 1, 1, {}}}},
      {"backup", "take and list backups (admin)", {
        {"create", "", "Takes a backup now.", 0, 0, {}},
        {"list", "", "Lists the backups.", 0, 0, {}}}},
      {"audit", "read and verify the audit log (admin)", {
        {"list", "", "Lists audit entries in order.", 0, 0,
         {{"since", "--since SEQ", "from entry SEQ (default 1)"},
          {"limit", "--limit N", "at most N entries"}}},
        {"verify", "", "Verifies the audit chain; with --head-seq and --head-hash, also that it still\n"
         "holds that head (from an earlier verify or a backup's log line), so a cut tail shows.", 0, 0,
         {{"head-seq", "--head-seq SEQ", "the sequence number of a head recorded earlier"},
          {"head-hash", "--head-hash HEX", "that head's hash"}}}}},
      {"export", "stream every version as JSON lines (admin)", {{"", "",
        "Writes every version, tombstones and metadata included, as JSON lines to stdout, from a\n"
        "consistent snapshot of the running node (`kvs-server import` reads them).", 0, 0, {}}}},
  };
  return kCommands;
}

const CommandSpec* find_command(std::string_view name) {
  for (const auto& command : commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

bool is_count(std::string_view text) {
  if (text.empty() || text.size() > 18) return false;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  return text.find_first_not_of('0') != std::string_view::npos;  // positive
}

// A word that is an operand although it starts with '-': stdin ("-") or a negative number.
bool is_dash_operand(std::string_view arg) {
  return arg == "-" || (arg.size() > 1 && arg[0] == '-' && std::isdigit(static_cast<unsigned char>(arg[1])));
}

std::string usage_line(const CommandSpec& command, const ActionSpec& action) {
  std::string line = "kvsctl " + std::string(command.name);
  if (!action.action.empty()) line += " " + std::string(action.action);
  if (!action.usage.empty()) line += " " + std::string(action.usage);
  if (!action.flags.empty()) line += " [flags]";
  return line;
}

constexpr std::string_view kGlobalFlagsHelp =
    "Global flags:\n"
    "  --endpoint URL     the server (env KVS_ENDPOINT; default http://127.0.0.1:8080)\n"
    "  --token T          bearer token (env KVS_TOKEN)\n"
    "  --token-file F     read the token from F (env KVS_TOKEN_FILE); --token wins\n"
    "  --cacert F         CA certificate(s) to verify an https endpoint (env KVS_CACERT)\n"
    "  -o, --output FMT   json (the server's JSON, the default) or table\n"
    "  -h, --help         help; `kvsctl COMMAND --help` for a command\n"
    "Flags win over environment variables.\n";

constexpr std::string_view kExitHelp =
    "Exit status: 0 success, 1 the server refused (its code and message on stderr),\n"
    "2 usage error, 3 the server cannot be reached (connection or TLS failure).\n";

}  // namespace

std::string Invocation::value(const std::string& flag) const {
  auto it = flags.find(flag);
  return it == flags.end() ? std::string() : it->second;
}

std::string Invocation::command_path() const { return action.empty() ? command : command + " " + action; }

ParseResult parse_command_line(const std::vector<std::string>& args) {
  auto fail = [](std::string message) { return ParseResult{std::nullopt, std::move(message)}; };
  Invocation invocation;
  std::vector<std::string> words;  // command, action and operands, in order
  bool flags_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.empty() || arg[0] != '-' || is_dash_operand(arg)) {
      words.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string name;
    std::optional<std::string> value;
    if (arg == "-h") {
      name = "help";
    } else if (arg == "-o") {
      name = "output";
    } else if (arg.rfind("--", 0) == 0) {
      std::size_t equals = arg.find('=');
      name = arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
      if (equals != std::string::npos) value = arg.substr(equals + 1);
    } else {
      return fail("unknown flag '" + arg + "'");
    }
    const FlagInfo* info = find_flag(name);
    if (info == nullptr) return fail("unknown flag '" + arg + "'");
    if (info->kind == ValueKind::kSwitch) {
      if (value) return fail("flag --" + name + " takes no value");
      value = "";
    } else if (!value) {
      if (i + 1 >= args.size()) return fail("flag " + arg + " needs a value");
      value = args[++i];
    }
    if (info->kind == ValueKind::kCount && !is_count(*value)) {
      return fail("flag --" + name + " needs a positive whole number, not '" + *value + "'");
    }
    if (name == "endpoint") {
      invocation.global.endpoint = *value;
    } else if (name == "token") {
      invocation.global.token = *value;
    } else if (name == "token-file") {
      invocation.global.token_file = *value;
    } else if (name == "cacert") {
      invocation.global.cacert = *value;
    } else if (name == "output") {
      if (*value == "json") {
        invocation.global.output = OutputFormat::kJson;
      } else if (*value == "table") {
        invocation.global.output = OutputFormat::kTable;
      } else {
        return fail("output format must be json or table, not '" + *value + "'");
      }
    } else if (name == "help") {
      invocation.help = true;
    } else if (name == "version") {
      invocation.version = true;
    } else {
      invocation.flags[name] = *value;
    }
  }

  if (words.empty()) {
    if (invocation.help || invocation.version) {
      if (!invocation.flags.empty()) return fail("flag --" + invocation.flags.begin()->first + " needs a command");
      return ParseResult{std::move(invocation), ""};
    }
    return fail("no command given");
  }
  const CommandSpec* command = find_command(words.front());
  if (command == nullptr) return fail("unknown command '" + words.front() + "'");
  invocation.command = words.front();
  std::size_t next = 1;
  const ActionSpec* action = nullptr;
  if (command->has_actions()) {
    if (next >= words.size()) {
      if (invocation.help) return ParseResult{std::move(invocation), ""};
      return fail("kvsctl " + invocation.command + " needs an action (see kvsctl " + invocation.command + " --help)");
    }
    action = command->find(words[next]);
    if (action == nullptr) {
      return fail("unknown action '" + words[next] + "' for kvsctl " + invocation.command);
    }
    invocation.action = words[next++];
  } else {
    action = &command->actions.front();
  }
  invocation.operands.assign(words.begin() + static_cast<std::ptrdiff_t>(next), words.end());
  if (invocation.help) return ParseResult{std::move(invocation), ""};
  if (invocation.version) return fail("--version takes no command");

  const std::size_t count = invocation.operands.size();
  if (count < action->min_operands || count > action->max_operands) {
    return fail("usage: " + usage_line(*command, *action));
  }
  for (const auto& [name, value] : invocation.flags) {
    bool allowed = std::any_of(action->flags.begin(), action->flags.end(),
                               [&name = name](const FlagHelp& help) { return help.flag == name; });
    if (!allowed) return fail("kvsctl " + invocation.command_path() + " takes no flag --" + name);
  }
  if (invocation.has("if-match") && invocation.has("create-only")) {
    return fail("use --if-match or --create-only, not both");
  }
  if (invocation.has("if-match") && invocation.value("if-match").empty()) {
    return fail("--if-match needs a uuid");
  }
  if (invocation.has("head-seq") != invocation.has("head-hash")) {
    return fail("use --head-seq and --head-hash together");
  }
  if (invocation.command == "audit" && invocation.has("since") && !is_count(invocation.value("since"))) {
    return fail("flag --since needs a positive whole number, not '" + invocation.value("since") + "'");
  }
  if (invocation.command_path() == "user update" && !invocation.has("nickname") && !invocation.has("scopes")) {
    return fail("kvsctl user update needs --nickname or --scopes");
  }
  if (invocation.command_path() == "group update" && !invocation.has("name") && !invocation.has("members")) {
    return fail("kvsctl group update needs --name or --members");
  }
  return ParseResult{std::move(invocation), ""};
}

std::string help_text(const std::string& command_name, const std::string& action_name) {
  const CommandSpec* command = find_command(command_name);
  if (command == nullptr) {
    std::string text =
        "kvsctl: the command-line client of kvs-server\n\n"
        "Usage: kvsctl [global flags] COMMAND [ACTION] [ARGS] [flags]\n\nCommands:\n";
    for (const auto& spec : commands()) {
      std::string name(spec.name);
      name.resize(10, ' ');
      text += "  " + name + std::string(spec.summary) + "\n";
    }
    text += "\n";
    text += kGlobalFlagsHelp;
    text += "\n";
    text += kExitHelp;
    text += "\nRun `kvsctl COMMAND --help` for a command's arguments and flags; `kvsctl --version`.\n";
    return text;
  }
  const ActionSpec* action = command->has_actions() ? command->find(action_name) : &command->actions.front();
  std::string text;
  if (action == nullptr) {
    text = "kvsctl " + std::string(command->name) + ": " + std::string(command->summary) + "\n\nUsage:\n";
    for (const auto& spec : command->actions) {
      std::string line = usage_line(*command, spec);
      line.resize(std::max<std::size_t>(line.size() + 2, 40), ' ');
      text += "  " + line + std::string(spec.summary) + "\n";
    }
    text += "\nRun `kvsctl " + std::string(command->name) + " ACTION --help` for an action's flags.\n";
  } else {
    text = "Usage: " + usage_line(*command, *action) + "\n\n" + std::string(action->summary) + "\n";
    if (!action->flags.empty()) {
      text += "\nFlags:\n";
      for (const auto& flag : action->flags) {
        std::string syntax(flag.syntax);
        syntax.resize(std::max<std::size_t>(syntax.size() + 2, 18), ' ');
        text += "  " + syntax + std::string(flag.text) + "\n";
      }
    }
  }
  text += "\n";
  text += kGlobalFlagsHelp;
  return text;
}

ConnectionChoice resolve_connection(const GlobalOptions& options, const Environment& environment) {
  ConnectionChoice choice;
  choice.endpoint = options.endpoint.value_or(environment.endpoint.value_or(std::string(kDefaultEndpoint)));
  while (!choice.endpoint.empty() && choice.endpoint.back() == '/') choice.endpoint.pop_back();
  if (options.token) {
    choice.token = options.token;
  } else if (options.token_file) {
    choice.token_file = options.token_file;
  } else if (environment.token) {
    choice.token = environment.token;
  } else if (environment.token_file) {
    choice.token_file = environment.token_file;
  }
  choice.cacert = options.cacert.value_or(environment.cacert.value_or(""));
  return choice;
}

std::string token_from_file_contents(std::string_view contents) {
  const char* kSpace = " \t\r\n";
  std::size_t start = contents.find_first_not_of(kSpace);
  if (start == std::string_view::npos) return {};
  std::size_t end = contents.find_last_not_of(kSpace);
  return std::string(contents.substr(start, end - start + 1));
}

}  // namespace kvsctl

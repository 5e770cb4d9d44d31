#pragma once

// The command line of kvsctl, parsed into an Invocation and checked against the table of
// commands, without any I/O: main() reads files, stdin and the environment and hands their
// contents in, so that every rule here (which flags a command takes, which source of the
// endpoint and token wins) is a pure function the unit tests call directly.
//
// Grammar: kvsctl [GLOBAL FLAGS] COMMAND [ACTION] [OPERANDS] [FLAGS]. Flags may appear anywhere
// after `kvsctl`, as `--name value` or `--name=value`; `--` ends the flags, and a lone `-` or a
// negative number ("-5", a JSON document) is an operand.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvsctl {

// The exit statuses of SPEC section 5.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;      // the server answered with an error
inline constexpr int kExitUsage = 2;        // a bad command line, or an unreadable token file
inline constexpr int kExitUnreachable = 3;  // connection or TLS failure

enum class OutputFormat { kJson, kTable };

// Flags every command takes. Unset optionals fall back to the environment (resolve_connection).
struct GlobalOptions {
  std::optional<std::string> endpoint;    // --endpoint URL
  std::optional<std::string> token;       // --token T
  std::optional<std::string> token_file;  // --token-file F
  std::optional<std::string> cacert;      // --cacert F
  OutputFormat output = OutputFormat::kJson;  // -o json|table
};

struct Invocation {
  GlobalOptions global;
  bool help = false;     // --help / -h: print help for `command` (all commands when empty)
  bool version = false;  // --version, given without a command
  std::string command;   // "get", "user", ...; empty only with help or version
  std::string action;    // "create", "list", ... for commands that have actions; else empty
  std::vector<std::string> operands;
  // The command's own flags as given, by name without dashes; switches map to "".
  std::map<std::string, std::string> flags;

  bool has(const std::string& flag) const { return flags.count(flag) != 0; }
  // The flag's value, or "" when it was not given.
  std::string value(const std::string& flag) const;
  // "get", or "user create": the words that name what runs, for messages and help.
  std::string command_path() const;
};

// An Invocation, or the usage error that stopped parsing (exit kExitUsage).
struct ParseResult {
  std::optional<Invocation> invocation;
  std::string error;  // set when invocation is empty
};

// Parses argv[1..] (without the program name) and checks the command, its action, its operand
// count and its flags (each allowed for the command, values well-formed). With --help the
// command's operands and flags are not checked.
ParseResult parse_command_line(const std::vector<std::string>& args);

// The text of `kvsctl --help` (command_path empty) or of `kvsctl CMD [ACTION] --help`.
// An unknown command gets the general help.
std::string help_text(const std::string& command, const std::string& action = "");

// The environment variables kvsctl reads; unset and empty variables are both nullopt.
struct Environment {
  std::optional<std::string> endpoint;    // KVS_ENDPOINT
  std::optional<std::string> token;       // KVS_TOKEN
  std::optional<std::string> token_file;  // KVS_TOKEN_FILE
  std::optional<std::string> cacert;      // KVS_CACERT
};

inline constexpr std::string_view kDefaultEndpoint = "http://127.0.0.1:8080";

// Where to connect and with what. Exactly one of token and token_file is set, or neither
// (no Authorization header).
struct ConnectionChoice {
  std::string endpoint;  // without a trailing '/'
  std::optional<std::string> token;
  std::optional<std::string> token_file;  // to be read by the caller
  std::string cacert;                     // empty: the system trust store
};

// Flags win over the environment; within each, a token wins over a token file; then the
// default endpoint and no token.
ConnectionChoice resolve_connection(const GlobalOptions& options, const Environment& environment);

// The token in a token file's contents: surrounding whitespace (the trailing newline that
// `kvs-server token > file` and editors leave) removed.
std::string token_from_file_contents(std::string_view contents);

}  // namespace kvsctl

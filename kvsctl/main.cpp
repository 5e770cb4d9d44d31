// kvsctl: the command-line client of kvs-server (SPEC section 5). This file only does the I/O
// around the pure parts: it reads the environment, the token file and stdin, sends the
// requests, and prints; cli.hpp, request.hpp and output.hpp decide everything else.

#include <signal.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "cli.hpp"
#include "http_client.hpp"
#include "output.hpp"
#include "request.hpp"

namespace {

using namespace kvsctl;

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

// Set by SIGINT and SIGTERM while a stream runs: the user (Ctrl-C) or a supervisor ends it.
volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int) { g_stop = 1; }

// The exit status for an answer that was not a success, after saying why on stderr.
int failure(const HttpAnswer& answer, const std::string& endpoint) {
  if (!answer.reached) {
    std::fprintf(stderr, "kvsctl: cannot reach %s: %s\n", endpoint.c_str(), answer.transport_error.c_str());
    return kExitUnreachable;
  }
  std::fprintf(stderr, "%s\n", refusal_message(answer.status, answer.body).c_str());
  return kExitRefused;
}

bool success(const HttpAnswer& answer) { return answer.reached && answer.status >= 200 && answer.status < 300; }

// `ls`: every page of the one-level listing, merged into one.
int run_ls(HttpClient& client, const Invocation& invocation, const std::string& endpoint) {
  const std::string prefix = invocation.operands.empty() ? std::string() : invocation.operands.front();
  std::vector<std::string> pages;
  std::string start_key;
  while (true) {
    HttpAnswer answer = client.send(ls_request(prefix, start_key));
    if (!success(answer)) return failure(answer, endpoint);
    auto next = next_start_key(answer.body);
    pages.push_back(std::move(answer.body));
    // A server that hands back the key it was given would loop forever; stop instead.
    if (!next || *next == start_key) break;
    start_key = *next;
  }
  auto merged = merge_listing_pages(pages);
  if (!merged) {
    std::fprintf(stderr, "kvsctl: the server's listing is not a JSON object\n");
    return kExitRefused;
  }
  print(render_output(invocation, *merged));
  return kExitOk;
}

// `watch`: each event line printed and flushed as it arrives, also into a pipe. It runs until
// the server ends the stream, the reader of stdout goes away (`| head`: SIGPIPE is ignored and
// the failed write ends the stream instead), or Ctrl-C / SIGTERM; each is a clean end, exit 0.
int run_watch(HttpClient& client, const HttpRequest& request, const Invocation& invocation,
              const std::string& endpoint) {
  struct sigaction stop {};
  stop.sa_handler = on_stop_signal;
  sigemptyset(&stop.sa_mask);
  sigaction(SIGINT, &stop, nullptr);
  sigaction(SIGTERM, &stop, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  LineSplitter splitter;
  // False once stdout is gone.
  auto emit = [&](const std::string& line) {
    auto shown = render_watch_line(invocation.global.output, line);
    if (!shown) return true;
    shown->push_back('\n');
    print(*shown);
    return std::fflush(stdout) == 0 && !std::ferror(stdout);
  };
  HttpAnswer answer = client.send(
      request,
      [&](std::string_view chunk) {
        for (const auto& line : splitter.feed(chunk)) {
          if (!emit(line)) return false;
        }
        return true;
      },
      &g_stop);
  if (answer.stopped) return kExitOk;
  if (!success(answer)) return failure(answer, endpoint);
  if (auto rest = splitter.finish()) emit(*rest);
  return kExitOk;
}

int run(const Invocation& invocation) {
  Environment environment{env("KVS_ENDPOINT"), env("KVS_TOKEN"), env("KVS_TOKEN_FILE"), env("KVS_CACERT")};
  ConnectionChoice choice = resolve_connection(invocation.global, environment);
  Endpoint endpoint{choice.endpoint, choice.token.value_or(""), choice.cacert};
  if (choice.token_file) {
    std::ifstream in(*choice.token_file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "kvsctl: cannot read the token file %s\n", choice.token_file->c_str());
      return kExitUsage;
    }
    endpoint.token = token_from_file_contents(std::string(std::istreambuf_iterator<char>(in), {}));
  }

  std::string document;
  if (invocation.command == "put") {
    document = invocation.operands[1];
    if (document == "-") document.assign(std::istreambuf_iterator<char>(std::cin), {});
  }

  HttpClient client(endpoint);
  if (invocation.command == "ls") return run_ls(client, invocation, choice.endpoint);
  HttpRequest request = build_request(invocation, document);
  if (request.mode == BodyMode::kLines) return run_watch(client, request, invocation, choice.endpoint);
  if (request.mode == BodyMode::kRaw) {
    HttpAnswer answer = client.send(request, [](std::string_view chunk) {
      std::fwrite(chunk.data(), 1, chunk.size(), stdout);
      return true;
    });
    std::fflush(stdout);
    return success(answer) ? kExitOk : failure(answer, choice.endpoint);
  }
  HttpAnswer answer = client.send(request);
  // Not ready is an answer, not a refusal: its body says why, on stdout like a ready one.
  if (invocation.command == "ready" && answer.reached && answer.status == 503) {
    print(render_output(invocation, answer.body));
    return kExitRefused;
  }
  if (!success(answer)) return failure(answer, choice.endpoint);
  print(render_output(invocation, answer.body));
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  ParseResult parsed = parse_command_line(args);
  if (!parsed.invocation) {
    std::fprintf(stderr, "kvsctl: %s\nRun 'kvsctl --help' for usage.\n", parsed.error.c_str());
    return kExitUsage;
  }
  const Invocation& invocation = *parsed.invocation;
  if (invocation.help) {
    print(help_text(invocation.command, invocation.action));
    return kExitOk;
  }
  if (invocation.version) {
    std::printf("kvsctl %s (commit %s)\n", KVSCTL_VERSION, KVSCTL_COMMIT);
    return kExitOk;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int status = run(invocation);
  std::fflush(stdout);
  curl_global_cleanup();
  return status;
}

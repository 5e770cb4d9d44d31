#include "url.hpp"

namespace kvs::server {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool Target::has(std::string_view name) const { return find(name) != nullptr; }

const QueryParam* Target::find(std::string_view name) const {
  for (const auto& param : query) {
    if (param.name == name) return &param;
  }
  return nullptr;
}

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length;
    std::uint32_t code;
    if (byte < 0x80) {
      ++i;
      continue;
    } else if ((byte & 0xE0) == 0xC0) {
      length = 2;
      code = byte & 0x1F;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3;
      code = byte & 0x0F;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4;
      code = byte & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((length == 2 && code < 0x80) || (length == 3 && code < 0x800) || (length == 4 && code < 0x10000) ||
        code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

Result<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      int high = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
      int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (high < 0 || low < 0) {
        return Status::invalid_argument("bad percent-encoding at '" +
                                        std::string(text.substr(i, 3)) + "': '%' must be followed by two hex digits");
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  if (!is_valid_utf8(out)) return Status::invalid_argument("the percent-decoded text is not valid UTF-8");
  return out;
}

Result<Target> parse_target(std::string_view raw) {
  Target target;
  std::size_t question = raw.find('?');
  std::string_view path = raw.substr(0, question);
  // A fragment never reaches a server, but a hand-made request might carry one.
  auto decoded = percent_decode(path, /*plus_is_space=*/false);
  if (!decoded.is_ok()) return decoded.status();
  target.path = std::move(*decoded);
  if (question == std::string_view::npos) return target;

  std::string_view query = raw.substr(question + 1);
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t amp = query.find('&', start);
    std::string_view item = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (!item.empty()) {
      std::size_t equals = item.find('=');
      auto name = percent_decode(item.substr(0, equals), true);
      if (!name.is_ok()) return name.status().with_context("query parameter");
      QueryParam param{std::move(*name), std::nullopt};
      if (equals != std::string_view::npos) {
        auto value = percent_decode(item.substr(equals + 1), true);
        if (!value.is_ok()) return value.status().with_context("query parameter " + param.name);
        param.value = std::move(*value);
      }
      target.query.push_back(std::move(param));
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return target;
}

Result<std::uint64_t> parse_unsigned(std::string_view text, std::string_view name, std::uint64_t min,
                                     std::uint64_t max) {
  auto fail = [&] {
    return Status::invalid_argument("query parameter " + std::string(name) + " must be an integer from " +
                                    std::to_string(min) + " to " + std::to_string(max));
  };
  if (text.empty() || text.size() > 19) return fail();
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return fail();
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value < min || value > max) return fail();
  return value;
}

Result<bool> query_flag(const Target& target, std::string_view name) {
  const QueryParam* param = target.find(name);
  if (param == nullptr) return false;
  if (!param->value || param->value->empty() || *param->value == "true" || *param->value == "1") return true;
  if (*param->value == "false" || *param->value == "0") return false;
  return Status::invalid_argument("query parameter " + std::string(name) + " must be true or false");
}

}  // namespace kvs::server

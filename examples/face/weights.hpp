// examples/face/weights.hpp - TF.js weights manifests and their binary shards.
//
// A TF.js model ships `<name>-weights_manifest.json` and one or more `.bin` shards. The
// manifest is a JSON array of groups {paths: [...], weights: [{name, shape, dtype,
// quantization?}, ...]}; a group's tensors lie back to back, in manifest order, in the
// concatenation of its shards. A quantised tensor stores `quantization.dtype` values
// (uint8 / uint16: value = q * scale + min; float16: IEEE half) and is dequantised to
// its `dtype` (float32 or int32, rounded) as tfjs-core's io.decodeWeights does.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace face {

/// Errors of the face example (bad files, bad input); the message says what and where.
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A dense float tensor, row-major in TF's order (a conv filter is HWIO).
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  int64_t size() const noexcept {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

/// "[3, 3, 32, 64]"
inline std::string shape_string(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << '[';
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

/// IEEE 754 binary16 -> float (subnormals, Inf and NaN included).
inline float half_to_float(uint16_t h) noexcept {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      uint32_t m = man;
      do {
        ++e;
        m <<= 1;
      } while ((m & 0x400u) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((m & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// The named tensors of one TF.js model, dequantised to float.
class WeightMap {
 public:
  /// Parses `manifest_json` (the text of a weights manifest) and decodes the tensors
  /// from `read_shard(path)`, which returns the bytes of the shard named `path` in the
  /// manifest. `what` names the model in error messages.
  /// Throws face::error on malformed JSON, an unknown dtype, negative dimensions, a
  /// shard shorter than its tensors, or a duplicate tensor name.
  static WeightMap parse(const std::string& manifest_json,
                         const std::function<std::vector<uint8_t>(const std::string&)>& read_shard,
                         const std::string& what = "weights manifest") {
    nlohmann::json m;
    try {
      m = nlohmann::json::parse(manifest_json);
    } catch (const nlohmann::json::exception& e) {
      throw error(what + ": not valid JSON (" + e.what() + ")");
    }
    if (!m.is_array()) throw error(what + ": expected a JSON array of weight groups");
    WeightMap map;
    try {
      for (const auto& group : m) {
        std::vector<uint8_t> bytes;
        for (const auto& p : group.at("paths")) {
          auto shard = read_shard(p.get<std::string>());
          bytes.insert(bytes.end(), shard.begin(), shard.end());
        }
        std::size_t offset = 0;
        for (const auto& w : group.at("weights")) map.decode_one(w, bytes, offset, what);
        if (offset != bytes.size())
          throw error(what + ": shards hold " + std::to_string(bytes.size()) + " bytes but the manifest describes " +
                      std::to_string(offset));
      }
    } catch (const nlohmann::json::exception& e) {
      throw error(what + ": malformed manifest entry (" + e.what() + ")");
    }
    return map;
  }

  /// Loads `<dir>/<model>-weights_manifest.json` and its shards (paths relative to dir).
  /// Throws face::error when a file is missing or unreadable, or as parse().
  static WeightMap load(const std::filesystem::path& dir, const std::string& model) {
    const auto manifest = dir / (model + "-weights_manifest.json");
    const std::string text = read_text(manifest);
    return parse(
        text, [&](const std::string& p) { return read_bytes(dir / p); }, manifest.string());
  }

  /// The tensor `name`, checked to have `shape`. Throws face::error naming the tensor,
  /// the expected and the actual shape.
  const Tensor& get(const std::string& name, std::initializer_list<int64_t> shape) const {
    const Tensor& t = get(name);
    if (!std::equal(t.shape.begin(), t.shape.end(), shape.begin(), shape.end()))
      throw error("tensor '" + name + "': expected shape " + shape_string(std::vector<int64_t>(shape)) + ", got " +
                  shape_string(t.shape));
    return t;
  }
  /// The tensor `name`, any shape. Throws face::error when absent.
  const Tensor& get(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw error("tensor '" + name + "' is not in the weights manifest");
    return it->second;
  }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  std::size_t size() const noexcept { return tensors_.size(); }

  static std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw error("cannot open " + p.string());
    std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) throw error("cannot read " + p.string());
    return b;
  }
  static std::string read_text(const std::filesystem::path& p) {
    auto b = read_bytes(p);
    return std::string(b.begin(), b.end());
  }

 private:
  void decode_one(const nlohmann::json& w, const std::vector<uint8_t>& bytes, std::size_t& offset,
                  const std::string& what) {
    Tensor t;
    const std::string name = w.at("name").get<std::string>();
    int64_t n = 1;
    for (const auto& d : w.at("shape")) {
      const int64_t v = d.get<int64_t>();
      if (v < 0 || v > (int64_t{1} << 31)) throw error(what + ": tensor '" + name + "' has a bad dimension");
      t.shape.push_back(v);
      n *= v;
      if (n > (int64_t{1} << 31)) throw error(what + ": tensor '" + name + "' is too large");
    }
    const std::string dtype = w.at("dtype").get<std::string>();
    if (dtype != "float32" && dtype != "int32")
      throw error(what + ": tensor '" + name + "': unsupported dtype '" + dtype + "'");
    std::string stored = dtype;
    double scale = 1, min = 0;
    const bool quantized = w.contains("quantization");
    if (quantized) {
      const auto& q = w.at("quantization");
      stored = q.at("dtype").get<std::string>();
      if (stored == "uint8" || stored == "uint16") {
        scale = q.at("scale").get<double>();
        min = q.at("min").get<double>();
      } else if (stored != "float16") {
        throw error(what + ": tensor '" + name + "': unsupported quantization dtype '" + stored + "'");
      }
    }
    const std::size_t elem = stored == "uint8" ? 1 : (stored == "uint16" || stored == "float16") ? 2 : 4;
    const std::size_t need = static_cast<std::size_t>(n) * elem;
    if (offset + need > bytes.size())
      throw error(what + ": weights data truncated: tensor '" + name + "' needs bytes " + std::to_string(offset) +
                  ".." + std::to_string(offset + need) + ", the shards hold " + std::to_string(bytes.size()));
    const uint8_t* p = bytes.data() + offset;
    t.data.resize(static_cast<std::size_t>(n));
    const bool to_int = dtype == "int32";
    for (int64_t i = 0; i < n; ++i) {
      double v;
      if (stored == "uint8") {
        v = p[i] * scale + min;
      } else if (stored == "uint16") {
        uint16_t q;
        std::memcpy(&q, p + 2 * i, 2);
        v = q * scale + min;
      } else if (stored == "float16") {
        uint16_t q;
        std::memcpy(&q, p + 2 * i, 2);
        v = half_to_float(q);
      } else if (stored == "int32") {
        int32_t q;
        std::memcpy(&q, p + 4 * i, 4);
        v = q;
      } else {
        float q;
        std::memcpy(&q, p + 4 * i, 4);
        v = q;
      }
      t.data[static_cast<std::size_t>(i)] = static_cast<float>(to_int && quantized ? std::round(v) : v);
    }
    offset += need;
    if (!tensors_.emplace(name, std::move(t)).second) throw error(what + ": duplicate tensor '" + name + "'");
  }

  std::map<std::string, Tensor> tensors_;
};

}  // namespace face

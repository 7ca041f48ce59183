// The face example's TF.js weights loader (examples/face/weights.hpp) on manifests and
// shards built here: every stored dtype (uint8 / uint16 quantised, float16, float32,
// int32), several groups and shards, and each kind of bad input.
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../examples/face/weights.hpp"

namespace {

using Shards = std::map<std::string, std::vector<uint8_t>>;

face::WeightMap parse(const std::string& json, const Shards& shards) {
  return face::WeightMap::parse(json, [&](const std::string& p) {
    auto it = shards.find(p);
    if (it == shards.end()) throw face::error("no shard " + p);
    return it->second;
  });
}

template <class T>
void append(std::vector<uint8_t>& b, T v) {
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));
  b.insert(b.end(), raw, raw + sizeof(T));
}

}  // namespace

TEST_CASE("face weights: every dtype, two groups, a group split over two shards") {
  const std::string json = R"([
    {"paths": ["a.bin", "b.bin"], "weights": [
      {"name": "q8", "shape": [2, 2], "dtype": "float32",
       "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
      {"name": "q16", "shape": [3], "dtype": "float32",
       "quantization": {"dtype": "uint16", "scale": 0.25, "min": 2.0}},
      {"name": "h", "shape": [4], "dtype": "float32", "quantization": {"dtype": "float16"}}]},
    {"paths": ["c.bin"], "weights": [
      {"name": "f", "shape": [1, 2], "dtype": "float32"},
      {"name": "i", "shape": [2], "dtype": "int32"},
      {"name": "iq", "shape": [], "dtype": "int32",
       "quantization": {"dtype": "uint8", "scale": 1, "min": 3072}}]}])";
  std::vector<uint8_t> ab = {0, 1, 2, 255};                              // q8
  for (uint16_t v : {0, 4, 65535}) append(ab, v);                         // q16
  for (uint16_t v : {0x3c00, 0xc000, 0x0001, 0x7c00}) append(ab, v);      // h: 1, -2, 2^-24, inf
  Shards shards{{"a.bin", std::vector<uint8_t>(ab.begin(), ab.begin() + 5)},
                {"b.bin", std::vector<uint8_t>(ab.begin() + 5, ab.end())}};
  std::vector<uint8_t> c;
  append(c, 1.5f);
  append(c, -0.25f);
  append(c, int32_t{-7});
  append(c, int32_t{42});
  c.push_back(0);
  shards["c.bin"] = c;

  const face::WeightMap w = parse(json, shards);
  CHECK(w.size() == 6);
  CHECK(w.get("q8", {2, 2}).data == std::vector<float>{-1.f, -0.5f, 0.f, 126.5f});
  CHECK(w.get("q16", {3}).data == std::vector<float>{2.f, 3.f, static_cast<float>(65535 * 0.25 + 2)});
  const auto& h = w.get("h", {4}).data;
  CHECK(h[0] == 1.f);
  CHECK(h[1] == -2.f);
  CHECK(h[2] == doctest::Approx(5.9604645e-8f).epsilon(1e-6));
  CHECK(std::isinf(h[3]));
  CHECK(w.get("f", {1, 2}).data == std::vector<float>{1.5f, -0.25f});
  CHECK(w.get("i", {2}).data == std::vector<float>{-7.f, 42.f});
  CHECK(w.get("iq", {}).data == std::vector<float>{3072.f});
  CHECK(w.contains("f"));
  CHECK_FALSE(w.contains("g"));
}

TEST_CASE("face weights: half floats, subnormals and NaN") {
  CHECK(face::half_to_float(0x0000) == 0.f);
  CHECK(std::signbit(face::half_to_float(0x8000)));
  CHECK(face::half_to_float(0x3555) == doctest::Approx(0.33325195f));
  CHECK(face::half_to_float(0x7bff) == 65504.f);
  CHECK(face::half_to_float(0x03ff) == doctest::Approx(6.0975552e-5f).epsilon(1e-6));
  CHECK(std::isnan(face::half_to_float(0x7e00)));
}

TEST_CASE("face weights: errors name the problem") {
  const std::string one = R"([{"paths": ["w.bin"], "weights": [
      {"name": "t", "shape": [4], "dtype": "float32",
       "quantization": {"dtype": "uint8", "scale": 1, "min": 0}}]}])";
  SUBCASE("truncated shard") {
    CHECK_THROWS_WITH_AS(parse(one, {{"w.bin", {1, 2, 3}}}), doctest::Contains("truncated"), face::error);
  }
  SUBCASE("shard longer than the manifest says") {
    CHECK_THROWS_WITH_AS(parse(one, {{"w.bin", {1, 2, 3, 4, 5}}}), doctest::Contains("5 bytes"), face::error);
  }
  SUBCASE("missing shard") { CHECK_THROWS_AS(parse(one, {}), face::error); }
  SUBCASE("not JSON") { CHECK_THROWS_WITH_AS(parse("[{", {}), doctest::Contains("not valid JSON"), face::error); }
  SUBCASE("not an array") { CHECK_THROWS_AS(parse("{}", {}), face::error); }
  SUBCASE("entry without a name") {
    CHECK_THROWS_WITH_AS(parse(R"([{"paths": [], "weights": [{"shape": [1], "dtype": "float32"}]}])", {}),
                         doctest::Contains("malformed"), face::error);
  }
  SUBCASE("unknown dtypes") {
    CHECK_THROWS_WITH_AS(parse(R"([{"paths": [], "weights": [{"name": "s", "shape": [1], "dtype": "string"}]}])", {}),
                         doctest::Contains("unsupported dtype"), face::error);
    CHECK_THROWS_WITH_AS(parse(R"([{"paths": [], "weights": [{"name": "s", "shape": [1], "dtype": "float32",
                                   "quantization": {"dtype": "int4"}}]}])",
                               {}),
                         doctest::Contains("unsupported quantization"), face::error);
  }
  SUBCASE("negative dimension") {
    CHECK_THROWS_AS(parse(R"([{"paths": [], "weights": [{"name": "s", "shape": [-1], "dtype": "float32"}]}])", {}),
                    face::error);
  }
  SUBCASE("duplicate name") {
    CHECK_THROWS_WITH_AS(parse(R"([{"paths": [], "weights": [{"name": "s", "shape": [0], "dtype": "float32"},
                                                            {"name": "s", "shape": [0], "dtype": "float32"}]}])",
                               {}),
                         doctest::Contains("duplicate"), face::error);
  }
  SUBCASE("absent tensor and wrong shape") {
    const face::WeightMap w = parse(one, {{"w.bin", {1, 2, 3, 4}}});
    CHECK_THROWS_WITH_AS(w.get("u"), doctest::Contains("'u' is not in"), face::error);
    CHECK_THROWS_WITH_AS(w.get("t", {2, 2}), doctest::Contains("expected shape [2, 2], got [4]"), face::error);
  }
  SUBCASE("missing files on disk") {
    CHECK_THROWS_WITH_AS(face::WeightMap::load("/nonexistent-dir", "model"), doctest::Contains("cannot open"),
                         face::error);
  }
}

// A MobileNet depthwise-separable block as one sinter layer:
//   t = relu6(depthwise3x3(x) * bn_scale + bn_shift)      (never stored)
//   y = relu6(pointwise1x1(t) + bias)
// Runs it on a 56x56x128 activation, checks it against a direct double-precision loop
// and, bit for bit, against the same two layers run one after the other, and prints a
// few outputs and the time per call of both forms.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <sinter/sinter.hpp>
#include <vector>

namespace s = sinter;

int main() {
  const s::index_t H = 56, W = 56, C = 128, CO = 128;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto fill = [&](std::vector<float>& v, float scale, float offset = 0.f) {
    for (auto& x : v) x = offset + scale * normal(rng);
  };
  std::vector<float> x(H * W * C), wd(3 * 3 * C), wp(CO * C), scale(C), shift(C), bias(CO);
  fill(x, 1.f);
  fill(wd, std::sqrt(2.f / 9.f));  // He initialisation
  fill(wp, std::sqrt(2.f / C));
  fill(scale, 0.1f, 1.f);
  fill(shift, 0.1f);
  fill(bias, 0.1f);

  // The two layers, value form; then the block that runs them as one loop nest.
  const auto dw = s::depthwise_conv2d<3, 3>(s::depthwise_filter(wd.data(), 3, 3, C), {.pad = 1}) |
                  s::mul(s::per_channel(scale)) | s::add(s::per_channel(shift)) | s::relu6();
  const auto pw = s::conv2d<1, 1>(s::ohwi(wp.data(), CO, 1, 1, C), {}) | s::add(s::per_channel(bias)) | s::relu6();
  const auto block = s::depthwise_separable(dw, pw);

  const auto in = s::nhwc<const float>(x.data(), 1, H, W, C);
  std::vector<float> y(H * W * CO), t(H * W * C), y2(H * W * CO);
  const auto out = s::nhwc(y.data(), 1, H, W, CO);
  std::vector<std::byte> ws(block.workspace_size(in.shape)), ws_pw(pw.workspace_size({1, H, W, C}));
  block(in, out, ws);
  const auto two_layers = [&] {
    dw(in, s::nhwc(t.data(), 1, H, W, C));
    pw(s::nhwc<const float>(t.data(), 1, H, W, C), s::nhwc(y2.data(), 1, H, W, CO), ws_pw);
  };
  two_layers();
  const bool same = std::memcmp(y.data(), y2.data(), y.size() * sizeof(float)) == 0;

  // Reference: both convolutions and chains in double.
  std::vector<double> mid(H * W * C);
  for (s::index_t h = 0; h < H; ++h)
    for (s::index_t w = 0; w < W; ++w)
      for (s::index_t c = 0; c < C; ++c) {
        double acc = 0;
        for (s::index_t ky = 0; ky < 3; ++ky)
          for (s::index_t kx = 0; kx < 3; ++kx) {
            const s::index_t ih = h - 1 + ky, iw = w - 1 + kx;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
              acc += double(x[(ih * W + iw) * C + c]) * wd[(ky * 3 + kx) * C + c];
          }
        mid[(h * W + w) * C + c] = std::clamp(acc * scale[c] + shift[c], 0.0, 6.0);
      }
  double max_err = 0, max_ref = 0;
  for (s::index_t p = 0; p < H * W; ++p)
    for (s::index_t co = 0; co < CO; ++co) {
      double acc = 0;
      for (s::index_t c = 0; c < C; ++c) acc += mid[p * C + c] * wp[co * C + c];
      const double ref = std::clamp(acc + bias[co], 0.0, 6.0);
      max_err = std::max(max_err, std::abs(ref - y[p * CO + co]));
      max_ref = std::max(max_ref, std::abs(ref));
    }

  const auto time_ms = [](auto&& f) {
    const int reps = 50;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
  };
  const double fused_ms = time_ms([&] { block(in, out, ws); }), two_ms = time_ms(two_layers);

  std::printf(
      "sinter depthwise_separable: dw3x3 %ldx%ldx%ld | mul | add | relu6, then 1x1 -> %ld | add | relu6   [%s]\n",
      long(H), long(W), long(C), long(CO), s::default_arch::name());
  std::printf("y[0, 28, 28, 0:4] = %.5f %.5f %.5f %.5f\n", y[(28 * W + 28) * CO], y[(28 * W + 28) * CO + 1],
              y[(28 * W + 28) * CO + 2], y[(28 * W + 28) * CO + 3]);
  std::printf("max |y - reference| = %.3g (max |reference| = %.3g); same bits as the two layers: %s\n", max_err,
              max_ref, same ? "yes" : "NO");
  std::printf("time per call (single thread, mean of 50): fused %.3f ms, two layers %.3f ms\n", fused_ms, two_ms);
  return same && max_err <= 1e-4 * std::max(1.0, max_ref) ? 0 : 1;
}

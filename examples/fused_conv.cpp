// A ResNet basic block's second conv as one fused sinter layer:
//   y = relu((conv3x3(x) + bias) * bn_scale + bn_shift + residual)
// Runs it on a 56x56x64 activation, checks it against a direct double-precision loop,
// and prints a few outputs and the time per call.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <sinter/sinter.hpp>
#include <vector>

namespace s = sinter;

int main() {
  const s::index_t H = 56, W = 56, C = 64, K = 3;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto fill = [&](std::vector<float>& v, float scale) {
    for (auto& x : v) x = scale * normal(rng);
  };
  std::vector<float> x(H * W * C), w(C * K * K * C), bias(C), scale(C), shift(C), res(H * W * C), y(H * W * C);
  fill(x, 1.f);
  fill(w, std::sqrt(2.f / (K * K * C)));  // He initialisation
  fill(bias, 0.1f);
  fill(scale, 0.1f);
  for (auto& v : scale) v += 1.f;
  fill(shift, 0.1f);
  fill(res, 1.f);

  // The fused layer, value form: structure at compile time, operands bound here.
  auto block = s::conv2d<3, 3>(s::ohwi(w.data(), C, K, K, C), {.stride = 1, .pad = 1}) |
               s::add(s::per_channel(bias)) | s::mul(s::per_channel(scale)) | s::add(s::per_channel(shift)) |
               s::add(s::tensor(s::nhwc<const float>(res.data(), 1, H, W, C))) | s::relu();
  const auto in = s::nhwc<const float>(x.data(), 1, H, W, C);
  const auto out = s::nhwc(y.data(), 1, H, W, C);
  std::vector<std::byte> ws(block.workspace_size(in.shape));
  block(in, out, ws);

  // Reference: direct convolution in double, then the chain.
  double max_err = 0, max_ref = 0;
  for (s::index_t oh = 0; oh < H; ++oh)
    for (s::index_t ow = 0; ow < W; ++ow)
      for (s::index_t co = 0; co < C; ++co) {
        double acc = 0;
        for (s::index_t kh = 0; kh < K; ++kh)
          for (s::index_t kw = 0; kw < K; ++kw) {
            const s::index_t ih = oh - 1 + kh, iw = ow - 1 + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            for (s::index_t ci = 0; ci < C; ++ci)
              acc += double(x[(ih * W + iw) * C + ci]) * w[((co * K + kh) * K + kw) * C + ci];
          }
        const s::index_t o = (oh * W + ow) * C + co;
        const double ref = std::max(0.0, (acc + bias[co]) * scale[co] + shift[co] + res[o]);
        max_err = std::max(max_err, std::abs(ref - y[o]));
        max_ref = std::max(max_ref, std::abs(ref));
      }

  const int reps = 50;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) block(in, out, ws);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
  const double gflop = 2.0 * H * W * C * K * K * C * 1e-9;

  std::printf("sinter fused layer: conv3x3 %ldx%ldx%ld -> %ld | add(bias) | mul(scale) | add(shift) | "
              "add(residual) | relu   [%s]\n",
              long(H), long(W), long(C), long(C), s::default_arch::name());
  std::printf("y[0, 0, 0, 0:4]   = %.5f %.5f %.5f %.5f\n", y[0], y[1], y[2], y[3]);
  std::printf("y[0, 28, 28, 0:4] = %.5f %.5f %.5f %.5f\n", y[(28 * W + 28) * C], y[(28 * W + 28) * C + 1],
              y[(28 * W + 28) * C + 2], y[(28 * W + 28) * C + 3]);
  std::printf("max |y - reference| = %.3g (max |reference| = %.3g)\n", max_err, max_ref);
  std::printf("time per call: %.3f ms (%.1f GFLOP/s, single thread, mean of %d calls)\n", sec * 1e3, gflop / sec,
              reps);
  return max_err <= 1e-4 * std::max(1.0, max_ref) ? 0 : 1;
}

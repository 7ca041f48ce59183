// One translation unit holding the GEMM micro-kernel instantiations (full tile, bare and
// with a 5-op chain) so their machine code can be inspected with objdump; see
// microkernel_mix.py.
#include <sinter/sinter.hpp>

namespace s = sinter;
using A = s::default_arch;
constexpr int MR = s::gemm_tile<A>::mr, NV = s::gemm_tile<A>::nv;
constexpr int NR = NV * static_cast<int>(xsimd::batch<float, A>::size);

using Chain5 = s::Epilogue<s::Add<s::PerChannel>, s::Mul<s::PerChannel>, s::Add<s::PerChannel>, s::Add<s::Tensor>,
                           s::ReLU>;

extern "C" [[gnu::noinline]] void sinter_microkernel_bare(const s::gemm::KBlock& kb, float* const* c,
                                                          const s::TileLoc& loc) {
  s::gemm::micro_kernel<A, MR, NV, NR, true, true>(kb, c, s::Epilogue<>{}, loc);
}

extern "C" [[gnu::noinline]] void sinter_microkernel_chain5(const s::gemm::KBlock& kb, float* const* c,
                                                            const Chain5& epi, const s::TileLoc& loc) {
  s::gemm::micro_kernel<A, MR, NV, NR, true, true>(kb, c, epi, loc);
}

// sinter/sinter.hpp - everything: layers, epilogue ops and operands, views.
//
// sinter composes conv2d / linear kernels with chains of element-wise ops at compile
// time into one loop nest. See README.md for an overview.
#pragma once

#include "core/arch.hpp"
#include "core/buffer.hpp"
#include "core/error.hpp"
#include "core/tensor.hpp"
#include "core/workspace.hpp"
#include "epilogue/chain.hpp"
#include "epilogue/ops.hpp"
#include "epilogue/operand.hpp"
#include "layers/conv2d.hpp"
#include "layers/depthwise.hpp"
#include "layers/elementwise.hpp"
#include "layers/linear.hpp"
#include "layers/separable.hpp"

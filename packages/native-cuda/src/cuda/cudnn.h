// cuDNN convolutions, loaded at run time (cudnn_loader.cc): the build needs no cuDNN header or
// library, and a machine without cuDNN uses the built-in CUDA kernels (cuda/conv2d.cu).
//
// Layouts: x [N, C, H, W], w [K, C/groups, kh, kw], y [N, K, Ho, Wo] with
// Ho = (H + 2*ph - kh) / sh + 1, Wo = (W + 2*pw - kw) / sw + 1; cross-correlation (like
// PyTorch), float32 with FMA math (no TF32 unless SGI_CUDNN_TF32=1), dilation 1. All pointers
// are device pointers; the calls are asynchronous on the default stream like every kernel.
// Results overwrite the output (beta = 0). Errors throw std::runtime_error.
#pragma once
#include <string>

namespace sgi::cuda {

// Loads libcudnn (9, 8, then unversioned) and resolves the functions used here. Called once by
// status() when a CUDA device is present; on failure `reason` says why (SGI_CUDNN=0 disables it).
bool cudnn_load(std::string* reason);

// True when cuDNN is loaded and a handle could be created (tried once, on the first call).
bool cudnn_conv_available();

void cudnn_conv2d_forward(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                          const float* x, const float* w, float* y);
void cudnn_conv2d_backward_data(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                                const float* w, const float* gy, float* gx);
void cudnn_conv2d_backward_filter(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                                  const float* x, const float* gy, float* gw);

}  // namespace sgi::cuda

// cuDNN convolutions, loaded at run time (cudnn_loader.cc): the build needs no cuDNN header or
// library, and a machine without cuDNN uses the built-in CUDA kernels (cuda/conv2d.cu).
//
// Layouts: x [N, C, H, W], w [K, C/groups, kh, kw], y [N, K, Ho, Wo] with
// Ho = (H + 2*ph - kh) / sh + 1, Wo = (W + 2*pw - kw) / sw + 1; cross-correlation (like
// PyTorch), float32 with FMA math (TF32 only with the tf32 option, common/device.h CudaOptions, whose
// initial value is SGI_CUDNN_TF32=1), dilation 1. With the deterministic option (the default) only
// algorithms that cuDNN reports as deterministic are run. All pointers are device pointers; the
// calls are asynchronous on the default stream like every kernel. Results overwrite the output
// (beta = 0). Errors throw std::runtime_error.
#pragma once
#include <string>
#include "common/device.h"

namespace sgi::cuda {

// Loads libcudnn (9, 8, then unversioned), resolves the functions used here, creates the handle and
// runs the load-time probe: forward, backward-data and backward-filter of three tiny convolutions
// (3x3 with padding 1 at stride 1 and 2, and a grouped one) compared with a direct computation on
// the host. Called once by status() when a CUDA device is present; false with `reason` when cuDNN
// cannot be used (SGI_CUDNN=0 disables it; a failing probe names the pass, the cuDNN function and
// its sub-library). `library` gets the file loaded.
bool cudnn_init(std::string* reason, std::string* library);

// True when cuDNN passed cudnn_init (status() is consulted on the first call).
bool cudnn_conv_available();

void cudnn_conv2d_forward(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                          const float* x, const float* w, float* y);
void cudnn_conv2d_backward_data(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                                const float* w, const float* gy, float* gx);
void cudnn_conv2d_backward_filter(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                                  const float* x, const float* gy, float* gw);

// Forgets the algorithm chosen for every cached convolution shape (the options changed).
void cudnn_drop_choices();

// Version, call counts and the cached plans, for native.cudaLibraries().
void cudnn_fill_info(CudaLibrariesInfo* info);

}  // namespace sgi::cuda

// The pixel term: mean squared error between the reconstruction and the target.
import { ops, type Tensor } from '@sgi/core';

export function l2Loss(yHat: Tensor, x: Tensor): Tensor {
  if (yHat.shape.length !== x.shape.length || yHat.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`L2 loss: reconstruction [${yHat.shape.join(', ')}] and target [${x.shape.join(', ')}] differ in shape`);
  }
  return ops.mseLoss(yHat, x);
}

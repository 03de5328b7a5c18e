// Weight-file I/O: safetensors, PyTorch checkpoints (zip and legacy), NumPy .npy/.npz, atomic writes.
export * from './safetensors.js';
export * from './npy.js';
export * from './pickle.js';
export * from './torch.js';
export * from './checkpoint.js';
export * from './atomic_file.js';
export * as onnx from './onnx/index.js';

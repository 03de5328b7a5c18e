// The compute backends of this build and machine, and the default device.
// The CUDA backend is chosen at run time: a binary built with CUDA loads on a machine with no
// GPU or no driver and reports why CUDA is unavailable (native.info().cuda.reason).
import { native } from './native.js';
import type { Device } from './tensor.js';

export interface BackendInfo {
  name: Device;
  available: boolean;
  /** Why the backend cannot be used (only when unavailable). */
  reason?: string;
}

/** Every backend, available or not: CPU always, CUDA when compiled in and a device is present. */
export function backends(): BackendInfo[] {
  const cuda = native.info().cuda;
  return [
    { name: 'cpu', available: true },
    cuda.available
      ? { name: 'cuda', available: true }
      : { name: 'cuda', available: false, reason: cuda.reason ?? (cuda.compiled ? 'no CUDA device' : 'built without CUDA') },
  ];
}

/** The backends that can run here, in order of preference for tests ('cpu' first). */
export function availableDevices(): Device[] {
  return backends().filter((b) => b.available).map((b) => b.name);
}

/**
 * The device to compute on: `SGI_DEVICE` (cpu | cuda | auto) when set, else 'cuda' when it is
 * available and 'cpu' otherwise. Asking for CUDA where it cannot run throws with the reason.
 */
export function defaultDevice(): Device {
  const raw = process.env.SGI_DEVICE;
  const want = raw?.trim().toLowerCase() ?? '';
  if (want === 'cpu') return 'cpu';
  if (want !== '' && want !== 'auto' && want !== 'cuda') {
    throw new Error(`SGI_DEVICE must be 'cpu', 'cuda' or 'auto' (got '${raw}')`);
  }
  const cuda = backends().find((b) => b.name === 'cuda')!;
  if (want === 'cuda' && !cuda.available) {
    throw new Error(`SGI_DEVICE=cuda but the CUDA backend cannot be used: ${cuda.reason}. Unset SGI_DEVICE or set SGI_DEVICE=cpu.`);
  }
  return cuda.available ? 'cuda' : 'cpu';
}

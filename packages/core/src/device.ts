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

/** What a config or a command line asks for: a device, or 'auto' (CUDA when usable, else the CPU). */
export type DeviceChoice = 'auto' | Device;

/**
 * The device to run on for a choice, and why, in words for run logs and reports (e.g. "cpu (auto:
 * cuda unavailable: no CUDA device: ...)"). 'auto' follows SGI_DEVICE when it is set. Asking for
 * 'cuda' where it cannot run throws with the reason.
 */
export function resolveDevice(choice: DeviceChoice = 'auto'): { device: Device; why: string } {
  const cuda = backends().find((b) => b.name === 'cuda')!;
  if (choice === 'cpu') return { device: 'cpu', why: 'cpu (asked for)' };
  if (choice === 'cuda') {
    if (!cuda.available) throw new Error(`device 'cuda' was asked for but the CUDA backend cannot be used: ${cuda.reason}. Use --device cpu (or device: cpu / auto in the config).`);
    return { device: 'cuda', why: `cuda: ${native.info().cuda.deviceName ?? 'device 0'} (asked for)` };
  }
  const device = defaultDevice();
  if (device === 'cuda') return { device, why: `cuda: ${native.info().cuda.deviceName ?? 'device 0'} (auto)` };
  const env = process.env.SGI_DEVICE?.trim().toLowerCase();
  return { device, why: env === 'cpu' ? 'cpu (auto: SGI_DEVICE=cpu)' : `cpu (auto: cuda unavailable: ${cuda.reason})` };
}

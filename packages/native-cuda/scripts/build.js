#!/usr/bin/env node
// Builds the addon with cmake-js in Node-API mode (no Node header download).
// CUDA is compiled when nvcc is found, unless SGI_CUDA=OFF. SGI_CUDA_EMU=ON compiles the CUDA
// backend for the CPU emulator instead (src/cuda_emu), with the emulated cuBLAS and cuDNN beside the
// addon (src/cuda_emu/vendor). SGI_BUILD_DIR picks another build folder. SGI_SANITIZE=address (or
// address,undefined) compiles the addon and the emulated libraries with those sanitizers (build-emu-asan:
// Nx target native-cuda:build-emu-asan; load it with the runtime preloaded, scripts/asan-env.js).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const cuda = (process.env.SGI_CUDA ?? 'ON').toUpperCase() === 'OFF' ? 'OFF' : 'ON';
const emu = (process.env.SGI_CUDA_EMU ?? 'OFF').toUpperCase() === 'ON' ? 'ON' : 'OFF';
const out = process.env.SGI_BUILD_DIR ?? 'build';
const sanitize = (process.env.SGI_SANITIZE ?? '').trim();
if (sanitize && !/^(address|undefined)(,(address|undefined))*$/.test(sanitize)) {
  console.error(`sgi build: SGI_SANITIZE=${sanitize}: expected address, undefined or address,undefined`);
  process.exit(1);
}
// CUDA architectures (CMAKE_CUDA_ARCHITECTURES syntax, ';' or ' ' separated). Default: the list in
// CMakeLists.txt (machine code for sm_80..90) where an NVIDIA driver is installed; on a machine
// without one (CI, a CPU box with the toolkit) sm_90 PTX only: the CUDA code is still compiled and
// checked, in a fraction of the time. SGI_CUDA_ARCHS=all forces the full list.
const wanted = (process.env.SGI_CUDA_ARCHS ?? '').trim();
const driver = fs.existsSync('/proc/driver/nvidia/version');
const archs = wanted === 'all' ? '' : wanted ? wanted.split(/[;\s]+/).filter(Boolean).join(';') : driver ? '' : '90-virtual';
if (cuda === 'ON' && emu === 'OFF' && !wanted && !driver) {
  console.log('sgi build: no NVIDIA driver here, so CUDA code is compiled as sm_90 PTX only (SGI_CUDA_ARCHS=all: machine code for every GPU)');
}
const stamp = path.join(root, out, 'sgi-options.txt');
// CMake caches whether it found MPI: a machine that gained or lost Open MPI reconfigures.
const mpi = spawnSync('mpicxx', ['--showme:version'], { stdio: 'ignore' }).status === 0 ? 'found' : 'absent';
const options = `SGI_CUDA=${cuda} SGI_CUDA_EMU=${emu} MPI=${mpi}${archs ? ` ARCHS=${archs}` : ''}${sanitize ? ` SANITIZE=${sanitize}` : ''}`;
// cmake-js compile does not reconfigure: rebuild when the options changed.
const previous = fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8') : null;
const verb = previous === options ? 'compile' : 'rebuild';
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, verb, '-O', out, `--CDSGI_CUDA=${cuda}`, `--CDSGI_CUDA_EMU=${emu}`, `--CDSGI_SANITIZE=${sanitize}`, ...(archs ? [`--CDCMAKE_CUDA_ARCHITECTURES=${archs}`] : []), '--parallel', '2'];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
fs.writeFileSync(stamp, options);

// A shared library links even when a kernel it declares was never defined (e.g. a missing .cu
// file); calling that op would then crash the process. Fail the build instead.
const addon = path.join(root, out, 'Release', 'sgi_native.node');
const nm = spawnSync('nm', ['-DC', '--undefined-only', addon], { encoding: 'utf8' });
if (nm.status === 0) {
  // weak references (w: e.g. a thread_local's TLS init hook) may stay undefined
  const missing = nm.stdout.split('\n').filter((l) => /^\s*U\s/.test(l) && /\bsgi::/.test(l));
  if (missing.length) {
    console.error(`sgi build: ${missing.length} kernel symbol(s) are declared but not defined:\n${missing.join('\n')}`);
    process.exit(1);
  }
}

// The emulator's tests load the emulated cuBLAS and cuDNN from beside the addon.
if (emu === 'ON') {
  const missing = ['libsgi_emu_cublas.so', 'libsgi_emu_cudnn.so'].filter((f) => !fs.existsSync(path.join(root, out, 'Release', f)));
  if (missing.length) {
    console.error(`sgi build: the emulator build lacks ${missing.join(' and ')} (src/cuda_emu/vendor)`);
    process.exit(1);
  }
}

// The ops whose CUDA reductions used to add floats with atomicAdd, on seeded inputs (plain
// CommonJS, so that cuda_determinism.test.ts can run it in-process and in a child process with
// other emulator settings). runOps(native, device) returns { name: Float32Array } of every result.
'use strict';

/** Seeded values in [lo, hi) (mulberry32). */
function values(count, seed, lo = -1, hi = 1) {
  const out = new Float32Array(count);
  let a = seed >>> 0;
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

function runOps(n, device) {
  const made = [];
  const put = (a) => { const s = n.fromArray(a, device); made.push(s); return s; };
  const empty = (count) => { const s = new n.Storage(count, device); made.push(s); return s; };
  const out = {};
  try {
    {
      // PReLU and fused bias + leaky ReLU backward: per-channel sums over N x S = 98304 elements
      const N = 6, C = 3, S = 128 * 128;
      const x = put(values(N * C * S, 1)), gy = put(values(N * C * S, 2)), w = put(values(C, 3, 0.1, 0.3));
      const gx = empty(N * C * S), gw = empty(C), gb = empty(C);
      n.preluBackward(x, w, gy, gx, gw, N, C, S);
      out['prelu backward: weight gradient'] = n.toArray(gw);
      n.fusedLeakyReluBackward(x, w, gy, gx, gb, N, C, S, 0.2, Math.SQRT2);
      out['fused leaky relu backward: bias gradient'] = n.toArray(gb);
    }
    {
      // mean squared error over 2^20 elements, cosine loss over rows of 2^17
      const count = 1 << 20;
      const a = put(values(count, 4)), b = put(values(count, 5));
      const loss = empty(1);
      n.mseForward(a, b, loss);
      out['mse forward'] = n.toArray(loss);
      const rows = 4, d = count / rows;
      const stats = empty(rows * 3);
      n.cosineLossForward(a, b, stats, loss, rows, d);
      out['cosine loss forward'] = n.toArray(loss);
      out['cosine loss forward: row statistics'] = n.toArray(stats);
    }
    for (const align of [false, true]) {
      // bilinear backward of an 8x upsampling (each input gathers ~256 outputs) and of a downsampling
      const planes = 3;
      for (const [ih, iw, oh, ow] of [[9, 7, 70, 57], [61, 47, 13, 11]]) {
        const gy = put(values(planes * oh * ow, 6 + ih));
        const gx = empty(planes * ih * iw);
        n.bilinear2dBackward(gy, gx, planes, ih, iw, oh, ow, align);
        out[`bilinear backward ${ih}x${iw} <- ${oh}x${ow}, alignCorners ${align}`] = n.toArray(gx);
      }
    }
    {
      // strided accumulation where many source elements land on one destination element:
      // a broadcast (dst stride 0) and overlapping windows (dst strides [1, 1])
      const src = put(values(256 * 1000, 7));
      const dst = put(values(256, 8));
      n.stridedCopy(src, 0, dst, 0, [256, 1000], [1000, 1], [1, 0], true);
      out['strided accumulate, broadcast'] = n.toArray(dst);
      const win = put(values(400 + 600 - 1, 9));
      n.stridedCopy(src, 0, win, 0, [400, 600], [600, 1], [1, 1], true);
      out['strided accumulate, overlapping windows'] = n.toArray(win);
      const twice = put(values(2 * 300, 10));
      n.stridedCopy(src, 0, twice, 0, [5, 2, 7, 300], [50000, 300, 6000, 1], [0, 300, 0, 1], true);
      out['strided accumulate, 4-d with two broadcast dims'] = n.toArray(twice);
    }
  } finally {
    for (const s of made) s.release();
  }
  return out;
}

/** Names of the results of `b` that differ from `a` in any bit. */
function differing(a, b) {
  return Object.keys(a).filter((k) => !b[k] || !Buffer.from(a[k].buffer, a[k].byteOffset, a[k].byteLength)
    .equals(Buffer.from(b[k].buffer, b[k].byteOffset, b[k].byteLength)));
}

module.exports = { runOps, differing, values };

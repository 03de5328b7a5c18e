// Trains the face-world attribute classifier (FaceAttributeNet) on faces rendered on the fly from
// the training seeds, reports its accuracy per attribute on held-out faces and writes the weights
// (atomically) with their metadata, by default to pretrained/faces/attributes.safetensors.
//
//   node packages/eval/dist/bin/train_attributes.js [--steps 600] [--batch-size 32] [--lr 3e-3]
//        [--seed 0] [--eval-count 1000] [--threads 1] [--out pretrained/faces/attributes.safetensors]
//        [--channels 16,32,64,64] [--strides 2,2,2,2] [--head gap|flatten]
import { parseArgs } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native } from '@sgi/core';
import { ATTRIBUTES } from '@sgi/faces';
import {
  ATTRIBUTE_ACCURACY_TARGETS, DEFAULT_ATTRIBUTE_NET_CONFIG, describeAttributeNet, type AttributeNetConfig, defaultAttributeNetPath, evaluateAttributeNet, saveAttributeNet, trainAttributeNet,
} from '../face_attributes.js';

const USAGE = `usage: train_attributes [--steps N] [--batch-size N] [--lr X] [--seed N] [--eval-count N] [--threads N] [--out FILE] [--channels C,C,..] [--strides S,S,..] [--head gap|flatten]`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string', default: '600' },
      'batch-size': { type: 'string', default: '32' },
      lr: { type: 'string', default: '3e-3' },
      seed: { type: 'string', default: '0' },
      'eval-count': { type: 'string', default: '1000' },
      threads: { type: 'string', default: '1' },
      out: { type: 'string' },
      channels: { type: 'string' },
      strides: { type: 'string' },
      head: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { console.log(USAGE); return 0; }
  const int = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}\n${USAGE}`);
    return n;
  };
  const steps = int('steps', values.steps!, 1);
  const batchSize = int('batch-size', values['batch-size']!, 1);
  const seed = int('seed', values.seed!, 0);
  const evalCount = int('eval-count', values['eval-count']!, 1);
  const threads = int('threads', values.threads!, 1);
  const lr = Number(values.lr);
  if (!(lr > 0)) throw new Error(`--lr must be a number > 0, got ${values.lr}`);
  const out = path.resolve(values.out ?? defaultAttributeNetPath());
  native.setNumThreads(threads);

  const d = DEFAULT_ATTRIBUTE_NET_CONFIG;
  const list = (v: string | undefined, def: number[]) => (v === undefined ? def : v.split(',').map(Number));
  const config: AttributeNetConfig = {
    channels: list(values.channels, d.channels), strides: list(values.strides, d.strides), head: (values.head ?? d.head) as AttributeNetConfig['head'],
  };
  console.log(describeAttributeNet(config));
  console.log(`training ${steps} steps x ${batchSize} faces (lr ${lr}, seed ${seed}, ${threads} thread(s))`);
  const { net, seconds, images } = await trainAttributeNet({ steps, batchSize, lr, seed, config, log: (line) => console.log(line) });
  console.log(`trained on ${images} faces in ${seconds.toFixed(1)} s (${net.numParameters()} parameters)`);

  const ev = await evaluateAttributeNet(net, evalCount);
  console.log(`held-out accuracy on ${evalCount} faces (seeds ${ev.firstSeed}..${ev.firstSeed + evalCount - 1}):`);
  let ok = true;
  for (const a of ATTRIBUTES) {
    const target = ATTRIBUTE_ACCURACY_TARGETS[a];
    const pass = target === undefined || ev.accuracy[a] >= target;
    ok &&= pass;
    console.log(`  ${a.padEnd(11)} ${ev.accuracy[a].toFixed(4)}  (positives ${(ev.positives[a] * 100).toFixed(1)}%)${target === undefined ? '' : `  target ${target}${pass ? '' : '  MISSED'}`}`);
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  saveAttributeNet(net, out, {
    steps: String(steps), batchSize: String(batchSize), lr: String(lr), seed: String(seed), trainSeconds: seconds.toFixed(1),
    trainImages: String(images), evalCount: String(evalCount), evalFirstSeed: String(ev.firstSeed),
    accuracy: JSON.stringify(Object.fromEntries(ATTRIBUTES.map((a) => [a, Number(ev.accuracy[a].toFixed(4))]))),
  });
  console.log(`wrote ${out} (${fs.statSync(out).size} bytes)`);
  if (!ok) console.log('some attributes are below their target accuracy: train longer (--steps)');
  return ok ? 0 : 2;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});

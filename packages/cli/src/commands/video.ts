// sgi video --config <file> [--checkpoint <file>] --input <animated .gif/.webp | folder of frames | .mp4> --out <dir>
//           [--direction <file.npy> --strength <s>] [--format gif|webp|frames|mp4]
// Frame-by-frame inversion (and editing along a direction) of a video, written back the way it
// came, with the codes per frame, the time per frame and a temporal-consistency figure (see
// runVideo in @sgi/apps). MP4 in or out goes through an ffmpeg executable on PATH.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { native } from '@sgi/core';
import { Inverter, VIDEO_KINDS, loadDirection, requireFfmpeg, runVideo, videoKindOf, type VideoKind } from '@sgi/apps';

const fmt = (x: number | null) => (x === null ? 'n/a (one frame)' : x.toFixed(6));

export function videoCommand(y: Argv): Argv {
  return y.command(
    'video',
    'Invert a video frame by frame (optionally editing along a direction): output video, codes per frame, timing, temporal consistency',
    (a) => trainedModelOptions(a)
      .option('input', { type: 'string', demandOption: true, describe: 'an animated .gif or .webp, a folder of frames (sorted by name), or an .mp4 (needs ffmpeg on PATH)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
      .option('direction', { type: 'string', describe: 'editing direction .npy of shape [nLatent, styleDim]: every frame becomes W+ + strength * direction' })
      .option('strength', { type: 'number', default: 1, describe: 'edit strength s (with --direction)' })
      .option('format', { type: 'string', choices: VIDEO_KINDS as readonly string[], describe: 'how to write the output (default: the way the input came)' })
      .example('$0 video --config configs/tiny/stage2.yaml --input clip.gif --out out/video --direction pretrained/faces/directions/smile.npy --strength 2', ''),
    async (argv) => {
      // refuse a bad input, a missing ffmpeg or a missing direction before loading the networks
      videoKindOf(argv.input);
      if (argv.format === 'mp4') requireFfmpeg();
      if (argv.direction && !fs.existsSync(argv.direction)) throw new Error(`direction not found: ${argv.direction}`);
      const inv = Inverter.load(argv.config, { checkpoint: argv.checkpoint, device: argv.device });
      try {
        const direction = argv.direction ? loadDirection(argv.direction, inv) : undefined;
        const run = await runVideo(inv, argv.input, argv.out, {
          direction, strength: argv.strength, directionFile: argv.direction, format: argv.format as VideoKind | undefined,
          log: (l) => console.log(l),
        });
        const r = run.result;
        const rel = (f: string) => path.relative(argv.out, f);
        const edit = direction ? ` edited along ${argv.direction} (strength ${argv.strength})` : '';
        console.log(`inverted ${run.frames} frame(s)${edit} with ${inv.config.stages} stage(s) from ${inv.checkpoint}`);
        console.log(`wrote ${[run.files.video + (run.format === 'frames' ? '/' : ''), run.files.codes, run.files.edited, run.files.timing, run.files.temporal].filter((f): f is string => Boolean(f)).map(rel).join(', ')} in ${argv.out}`);
        console.log(`median ${r.medianSeconds.toFixed(3)} s/frame (batch 1, ${native.info().cpu.threads} threads)`);
        console.log(`temporal consistency (mean |difference| of consecutive frames): codes ${fmt(r.temporal.codes)}, output frames ${fmt(r.temporal.outputs)} (input frames ${fmt(r.temporal.inputs)})`);
      } finally {
        inv.release();
      }
    },
  );
}

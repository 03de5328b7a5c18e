// sgi serve --config <file> [--checkpoint <file>] [--port 8765] [--host 127.0.0.1] [--directions <folder>...]
//           [--no-lpips] [--lpips-alexnet <file>] [--max-upload-mb 10] [--max-side 4096] [--max-queue 4]
// A local web app on a trained config: upload a photo (or draw a random face of the built-in world),
// see each stage's reconstruction with PSNR/SSIM/LPIPS, download the W+ code, edit with a slider per
// direction, interpolate, mix styles and swap faces. One page, a small JSON API (see
// packages/apps/src/serve/server.ts), on 127.0.0.1 unless --host says otherwise. LPIPS is computed
// here (with @sgi/eval's metric) and handed to the server, which does not depend on @sgi/eval.
import type { Argv } from 'yargs';
import { Scope, Tensor, noGrad } from '@sgi/core';
import { createLpipsMetric } from '@sgi/eval';
import { serve } from '@sgi/apps';
import { trainedModelOptions } from './trained.js';

/** LPIPS of two [-1, 1] CHW images as the server wants it. */
function lpipsForServer(alexnet: string | undefined): serve.ServeLpips {
  const m = createLpipsMetric({ alexnet });
  return {
    note: m.note,
    distance(target, output, size) {
      const scope = new Scope();
      try {
        return scope.run(() => noGrad(() => m.distance(Tensor.fromArray(target, [1, 3, size, size]), Tensor.fromArray(output, [1, 3, size, size])).toArray()[0]!));
      } finally {
        scope.dispose();
      }
    },
  };
}

export function serveCommand(y: Argv): Argv {
  return y.command(
    'serve',
    'A local web app: upload a face, see each stage and its scores, edit, interpolate, mix and swap in the browser',
    (a) => trainedModelOptions(a)
      .option('port', { type: 'number', default: serve.DEFAULT_SERVE_PORT, describe: 'port to listen on (0 picks a free one)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (127.0.0.1: this machine only; 0.0.0.0 opens it to the network)' })
      .option('directions', { type: 'array', string: true, default: [] as string[], describe: 'extra folders of editing directions (<name>.npy of the W+ shape, separation from <name>.json or directions.json)' })
      .option('lpips', { type: 'boolean', default: true, describe: 'compute LPIPS for each stage (--no-lpips: PSNR and SSIM only)' })
      .option('lpips-alexnet', { type: 'string', describe: 'torchvision AlexNet weights for LPIPS (random AlexNet otherwise, shown on the page)' })
      .option('max-upload-mb', { type: 'number', default: serve.DEFAULT_MAX_UPLOAD_BYTES / 1e6, describe: 'largest upload, in MB' })
      .option('max-side', { type: 'number', default: serve.DEFAULT_MAX_SIDE, describe: 'largest image width and height, in pixels (checked before decoding)' })
      .option('max-queue', { type: 'number', default: serve.DEFAULT_MAX_QUEUE, describe: 'requests queued for the engine at once; more are answered 429' })
      .check((v) => {
        if (!(Number.isInteger(v.port) && v.port >= 0 && v.port <= 65535)) throw new Error(`--port must be an integer in 0..65535, got ${v.port}`);
        if (!(v['max-upload-mb'] > 0)) throw new Error(`--max-upload-mb must be positive, got ${v['max-upload-mb']}`);
        if (!(Number.isInteger(v['max-side']) && v['max-side'] >= 16)) throw new Error(`--max-side must be an integer of at least 16, got ${v['max-side']}`);
        if (!(Number.isInteger(v['max-queue']) && v['max-queue'] >= 1)) throw new Error(`--max-queue must be a positive integer, got ${v['max-queue']}`);
        return true;
      })
      .example('$0 serve --config configs/tiny/stage2.yaml', 'then open the printed URL (http://127.0.0.1:8765/)'),
    async (argv) => {
      const lpips = argv.lpips ? lpipsForServer(argv['lpips-alexnet']) : undefined;
      const s = await serve.startServer({
        config: argv.config, checkpoint: argv.checkpoint, port: argv.port, host: argv.host, directionDirs: argv.directions,
        lpips, maxUploadBytes: Math.round(argv['max-upload-mb'] * 1e6), maxSide: argv['max-side'], maxQueue: argv['max-queue'],
        log: (line) => console.log(line),
      });
      const info = s.session.info();
      console.log(`serving '${s.session.inv.config.name}' (${info.stages} stage(s), ${info.size} px, checkpoint ${s.session.inv.checkpoint})`);
      console.log(info.domainNote);
      console.log(`editing directions: ${info.directions.map((d) => d.name).join(', ') || 'none'}${info.skippedDirections.length ? ` (${info.skippedDirections.length} of another W+ shape skipped)` : ''}`);
      if (lpips?.note) console.log(lpips.note);
      if (!['127.0.0.1', '::1', 'localhost'].includes(argv.host)) console.log(`warning: listening on ${argv.host}: other machines can reach this server`);
      console.log(`open ${s.url} (Ctrl-C stops the server)`);
      const stop = (signal: string) => {
        console.log(`${signal}: stopping`);
        s.close().then(() => process.exit(0), () => process.exit(1));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    },
  );
}

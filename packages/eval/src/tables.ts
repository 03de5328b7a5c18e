// The paper's tables: which experiment configs make up each row, and the paper's own numbers
// (printed beside ours, labelled as the paper's). Suites: 'tiny' (trains on a CPU in minutes,
// the default) and 'paper' (full-scale checkpoints trained on a GPU).
export interface PaperRow {
  ssim: number;
  psnr: number;
  ids: number;
  runtime?: string;
  params: string;
}

export interface TableRow {
  label: string;
  /** Config file per suite (relative to the workspace). */
  configs: { tiny?: string; paper: string };
  paper: PaperRow;
}

export interface TableDef {
  title: string;
  rows: TableRow[];
  note: string;
}

export const TABLES: Record<'table1' | 'table2' | 'table3', TableDef> = {
  table1: {
    title: 'Table 1: inversion on CelebA-HQ (multi-stage and the no-residual ablation)',
    note: 'Paper: 2,000 CelebA-HQ test images at 256, IDS with CurricularFace, runtime on a 2080 Ti.',
    rows: [
      { label: 'Ours 1 stage', configs: { tiny: 'configs/tiny/stage1.yaml', paper: 'configs/paper/stage1.yaml' }, paper: { ssim: 0.63, psnr: 21.3, ids: 0.69, runtime: '0.04 s', params: '85M' } },
      { label: 'Ours 2 stages', configs: { tiny: 'configs/tiny/stage2.yaml', paper: 'configs/paper/stage2.yaml' }, paper: { ssim: 0.66, psnr: 22.5, ids: 0.74, runtime: '0.08 s', params: '170M' } },
      { label: 'Ours 3 stages', configs: { tiny: 'configs/tiny/stage3.yaml', paper: 'configs/paper/stage3.yaml' }, paper: { ssim: 0.67, psnr: 23.0, ids: 0.75, runtime: '0.11 s', params: '255M' } },
      { label: '2 stages without residual', configs: { tiny: 'configs/tiny/stage2_noresidual.yaml', paper: 'configs/paper/stage2_noresidual.yaml' }, paper: { ssim: 0.63, psnr: 21.3, ids: 0.69, runtime: '0.08 s', params: '170M' } },
    ],
  },
  table2: {
    title: 'Table 2: ablations of backbone depth, heads and losses (one stage)',
    note: 'C = L2 + LPIPS, SI = single-layer ID, MI = multi-layer ID, MP = multi-layer parsing.',
    rows: [
      { label: '(a) 1/4, 1E, C+SI', configs: { tiny: 'configs/tiny/ablations/a.yaml', paper: 'configs/ablations/a.yaml' }, paper: { ssim: 0.57, psnr: 20.3, ids: 0.62, params: '59M' } },
      { label: '(b) 1/16, 1E, C+SI', configs: { tiny: 'configs/tiny/ablations/b.yaml', paper: 'configs/ablations/b.yaml' }, paper: { ssim: 0.57, psnr: 20.5, ids: 0.66, params: '262M' } },
      { label: '(c) 1/8, 1E, C+SI', configs: { tiny: 'configs/tiny/ablations/c.yaml', paper: 'configs/ablations/c.yaml' }, paper: { ssim: 0.59, psnr: 20.9, ids: 0.67, params: '133M' } },
      { label: '(d) 1/8, 3E, C+SI', configs: { tiny: 'configs/tiny/ablations/d.yaml', paper: 'configs/ablations/d.yaml' }, paper: { ssim: 0.59, psnr: 21.0, ids: 0.67, params: '85M' } },
      { label: '(e) 1/8, 18C, C+SI', configs: { tiny: 'configs/tiny/ablations/e.yaml', paper: 'configs/ablations/e.yaml' }, paper: { ssim: 0.55, psnr: 20.0, ids: 0.61, params: '233M' } },
      { label: '(f) 1/8, 3E, C', configs: { tiny: 'configs/tiny/ablations/f.yaml', paper: 'configs/ablations/f.yaml' }, paper: { ssim: 0.59, psnr: 21.0, ids: 0.27, params: '85M' } },
      { label: '(g) 1/8, 3E, C+MI', configs: { tiny: 'configs/tiny/ablations/g.yaml', paper: 'configs/ablations/g.yaml' }, paper: { ssim: 0.60, psnr: 20.9, ids: 0.69, params: '85M' } },
      { label: '(h) 1/8, 3E, C+MI+MP', configs: { tiny: 'configs/tiny/ablations/h.yaml', paper: 'configs/ablations/h.yaml' }, paper: { ssim: 0.63, psnr: 21.3, ids: 0.69, params: '85M' } },
    ],
  },
  table3: {
    title: "Table 3: pSp's feature pyramid on top of (d)",
    note: 'Same quality with or without the pyramid; the pyramid costs parameters and time.',
    rows: [
      { label: '(d)', configs: { tiny: 'configs/tiny/ablations/d.yaml', paper: 'configs/ablations/d.yaml' }, paper: { ssim: 0.59, psnr: 21.0, ids: 0.67, runtime: '0.04 s', params: '85M' } },
      { label: '(d) + FPN', configs: { tiny: 'configs/tiny/ablations/d_fpn.yaml', paper: 'configs/ablations/d_fpn.yaml' }, paper: { ssim: 0.59, psnr: 21.0, ids: 0.67, runtime: '0.05 s', params: '98M' } },
    ],
  },
};

// The paper's tables: which experiment configs make up each row, and the paper's own numbers
// (printed beside ours, labelled as the paper's). Suites: 'tiny' (trains on a CPU in minutes,
// the default) and 'paper' (full-scale checkpoints trained on a GPU). The rows live in
// ../tables.yaml, which the Nx plugin also reads to make the eval:<table> targets.
import * as fs from 'node:fs';
import { parse as parseYaml } from 'yaml';

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

export type TableName = 'table1' | 'table2' | 'table3';

/** The tables as packages/eval/tables.yaml defines them (the one list of rows). */
export const TABLES: Record<TableName, TableDef> = parseYaml(fs.readFileSync(new URL('../tables.yaml', import.meta.url), 'utf8'));

import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));
const alias = {
  '@sgi/core': src('core'),
  '@sgi/losses': src('losses'),
  '@sgi/experiment': src('experiment'),
  '@sgi/faces': src('faces'),
  '@sgi/apps': src('apps'),
  '@sgi/trainer': src('trainer'),
  '@sgi/eval': src('eval'),
};
const project = (name: string) => ({
  resolve: { alias },
  test: {
    name,
    include: [`packages/${name}/test/**/*.test.ts`],
    pool: 'forks' as const,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

export default defineConfig({
  test: {
    projects: [project('core'), project('losses'), project('faces'), project('experiment'), project('trainer'), project('eval'), project('apps'), project('cli')],
  },
});

// @sgi/apps: what users do with an inverted face (the paper's Section 5 and Appendix A), each on
// the inversion API (inverter.ts) and each reached through an `sgi` command.
export * from './inverter.js';

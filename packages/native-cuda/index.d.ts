// The addon's functions are typed in packages/core/src/native.ts (interface Native).
declare const native: unknown;
export = native;

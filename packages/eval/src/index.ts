// @sgi/eval
export {};

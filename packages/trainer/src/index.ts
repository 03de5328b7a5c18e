// @sgi/trainer
export {};

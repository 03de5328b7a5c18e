// @sgi/losses
export {};

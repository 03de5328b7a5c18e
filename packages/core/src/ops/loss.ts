// placeholder: filled by the loss kernel family
export {};

// placeholder: filled by the normalization kernel family
export {};

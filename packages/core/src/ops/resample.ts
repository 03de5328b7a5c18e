// placeholder: filled by the resample kernel family
export {};

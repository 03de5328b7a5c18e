// placeholder: filled by the conv kernel family
export {};

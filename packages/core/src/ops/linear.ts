// placeholder: filled by the linear kernel family
export {};

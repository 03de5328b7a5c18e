// placeholder: filled by the pooling kernel family
export {};

// placeholder: filled by the activation kernel family
export {};

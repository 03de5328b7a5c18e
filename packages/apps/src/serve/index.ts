// `sgi serve`: a local web app on the inversion API (one page, a small JSON API, one engine worker).
export * from './server.js';
export * from './session.js';
export { JobQueue } from './queue.js';
export { HttpError, multipartParts } from './http.js';
export { decodeUpload, pngDataUrl } from './images.js';
export { servePage } from './page.js';

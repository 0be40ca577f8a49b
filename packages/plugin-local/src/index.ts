export { LocalStorage } from './local-storage.js';
export { isFileUrl, resolveFileUrl } from './file-url.js';
export { storageHook } from './hooks/storage.js';

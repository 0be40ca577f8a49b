/**
 * What a strata plugin and core agree on: the plugin contracts (storage drivers, transformers,
 * notifiers, with their runtime guards) and the error classes. Every plugin depends on this small
 * package at run time; core re-exports all of it.
 */
export * from './errors.js';
export * from './storage.js';
export * from './transformer.js';
export * from './notifier.js';

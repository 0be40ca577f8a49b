// The storage contract lives in @strata/contracts (plugins depend on it); core re-exports it.
export * from '@strata/contracts/storage';

#!/usr/bin/env -S node --max-semi-space-size=8
// The flag: a smaller young generation than V8 picks on a large machine. strata streams many
// short-lived strings and buffers; scavenging 8 MB semi-spaces is quicker and about 40 MB lighter
// than the default (docs/benchmarks.md). `node bin/run.js` without it works the same, only heavier.
import { execute, settings } from '@oclif/core';

// This is the built CLI: always run dist/, even under NODE_ENV=test (which vitest sets for the
// subprocesses it starts) where oclif would otherwise load src/*.ts through a transpiler.
settings.enableAutoTranspile = false;

await execute({ dir: import.meta.url });

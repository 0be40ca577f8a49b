#!/usr/bin/env node
import { execute, settings } from '@oclif/core';

// This is the built CLI: always run dist/, even under NODE_ENV=test (which vitest sets for the
// subprocesses it starts) where oclif would otherwise load src/*.ts through a transpiler.
settings.enableAutoTranspile = false;

await execute({ dir: import.meta.url });

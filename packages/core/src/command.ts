// `@strata/core/command`: what a plugin needs to add commands to the strata CLI — the base command
// (flags --json/--config/--env, config and storage loading, errors as one sentence and a hint) and
// the text helpers the built-in commands render with. Kept apart from `@strata/core` so that the
// library does not load oclif.
export { BaseCommand, type BaseArgs, type BaseFlags, type CommandContext } from './base-command.js';
export { formatBytes, formatCount, formatDuration, renderTable } from './cli/text-format.js';

// Numbers as people read them, in a fixed locale so every machine prints the same. A leaf with no
// imports on the lowest floor: engine sentences that must carry a quantity (an error's message, a
// retry's log line, a notification's summary) and the CLI's formatters (cli/text-format.ts) share
// it, so the engine never reaches up into cli/ and both say "3.2 s" the same way.

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `1234567` → `1,234,567`. */
export function formatCount(n: number): string {
  return integer.format(n);
}

/** Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `3.2 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A duration for reports: `850 ms`, `3.2 s`, `4m 05s`, `1h 02m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return hours > 0 ? `${hours}h ${pad(minutes)}m` : `${minutes}m ${pad(seconds)}s`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * An environment's `retention` in the config: the CLI flags' names in camelCase
 * (`--keep-within 30d` ↔ `keepWithin: '30d'`), so the config and the command line read alike.
 */
export interface RetentionConfig {
  keepLast?: number;
  keepWithin?: string;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

/** A `within` span: a whole number of at least 1 and one unit (h, d, w, m = months, y). */
export const RETENTION_SPAN = /^([1-9][0-9]*)([hdwmy])$/;

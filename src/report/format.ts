/**
 * Number formatting for the report's text, tables and plot labels. Locale-independent (never
 * `toLocaleString`), so a report reads the same on every machine; `–` stands for a missing or
 * undefined (NaN) value.
 */
import { groupThousands } from './svg.js';

/** A number for labels: integers and values from 1,000 up with thousands grouped, else 4 significant digits. */
export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (Number.isInteger(v)) return groupThousands(v);
  if (Math.abs(v) >= 1000) return groupThousands(Math.round(v));
  return Number(v.toPrecision(4)).toString();
}

/** A share in [0, 1] as a percentage with one decimal: `0.5` -> `50.0%`. */
export function formatPercent(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(1)}%`;
}

/** A number with a fixed number of decimals. */
export function formatFixed(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

/** An objective's value: accuracy-like shares (`accuracy`, `exact`) as percentages, others as {@link formatValue}. */
export function formatObjective(name: string, v: number | null | undefined): string {
  return name === 'accuracy' || name === 'exact' ? formatPercent(v) : formatValue(v);
}

/** A count that may exceed 2^53 (a space's cardinality): grouped up to 15 digits, else `2.9e134`. */
export function formatCount(n: bigint): string {
  const s = n.toString();
  if (s.length <= 15) return groupThousands(Number(n));
  return `${s[0]}.${s.slice(1, 3)}e${s.length - 1}`;
}

/**
 * A benchmark's numeric command-line flag, checked: `--runs abc` or `--seconds 0` stops the
 * benchmark at once with the flag's name and what it takes, instead of running minutes of
 * load whose figures are NaN (Number('abc')) or divide by zero.
 */
export interface NumberFlagRule {
  /** whole numbers only (counts: runs, streams, connections) */
  integer?: boolean;
  /** the smallest value allowed; the default 0 is exclusive (a positive number), a given min is inclusive */
  min?: number;
}

export function numberFlag(name: string, text: string, rule: NumberFlagRule = {}): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  const inRange = rule.min === undefined ? value > 0 : value >= rule.min;
  if (!Number.isFinite(value) || !inRange || (rule.integer === true && !Number.isInteger(value))) {
    const kind = rule.integer === true ? 'a whole number' : 'a number';
    const bound = rule.min === undefined ? 'above 0' : `of at least ${rule.min}`;
    throw new Error(`--${name} takes ${kind} ${bound}, got '${text}'`);
  }
  return value;
}

/** A comma-separated list of numberFlag values (e.g. --streams 1,2,4). */
export function numberListFlag(name: string, text: string, rule: NumberFlagRule = {}): number[] {
  return text.split(',').map((item) => numberFlag(name, item, rule));
}

/**
 * Splits a SQL script into statements at top-level semicolons, skipping
 * those inside quotes, comments and dollar-quoted bodies. PGlite's query()
 * (extended protocol) takes one statement at a time, so migrations run
 * statement by statement on both PGlite and PostgreSQL.
 */
export function splitSqlStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  const n = script.length;
  while (i < n) {
    const ch = script[i];
    const next = script[i + 1];
    if (ch === '-' && next === '-') {
      const end = script.indexOf('\n', i + 2);
      i = end === -1 ? n : end + 1;
    } else if (ch === '/' && next === '*') {
      i = skipBlockComment(script, i);
    } else if (ch === "'" || ch === '"') {
      i = skipQuoted(script, i, ch);
    } else if (ch === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(script.slice(i, i + 64));
      if (tag && !isIdentifierChar(script[i - 1])) {
        const close = script.indexOf(tag[0], i + tag[0].length);
        i = close === -1 ? n : close + tag[0].length;
      } else {
        i += 1;
      }
    } else if (ch === ';') {
      push(statements, script.slice(start, i));
      i += 1;
      start = i;
    } else {
      i += 1;
    }
  }
  push(statements, script.slice(start));
  return statements;
}

function push(statements: string[], text: string): void {
  if (stripComments(text).trim() !== '') statements.push(text.trim());
}

function skipBlockComment(script: string, at: number): number {
  // Postgres block comments nest.
  let depth = 0;
  let i = at;
  while (i < script.length) {
    if (script[i] === '/' && script[i + 1] === '*') {
      depth += 1;
      i += 2;
    } else if (script[i] === '*' && script[i + 1] === '/') {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else {
      i += 1;
    }
  }
  return script.length;
}

function skipQuoted(script: string, at: number, quote: string): number {
  let i = at + 1;
  while (i < script.length) {
    if (script[i] === quote) {
      if (script[i + 1] === quote) i += 2; // doubled quote is an escaped quote
      else return i + 1;
    } else {
      i += 1;
    }
  }
  return script.length;
}

function isIdentifierChar(ch: string | undefined): boolean {
  return ch !== undefined && /[A-Za-z0-9_]/.test(ch);
}

function stripComments(text: string): string {
  return text.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}

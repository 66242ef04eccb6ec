/**
 * A small YAML reader for the block-style subset our deploy files use
 * (compose, Prometheus, Grafana provisioning, Helm values): block mappings
 * and sequences, plain/quoted scalars, flow sequences and flat flow mappings,
 * `|`/`>` block scalars, comments. No anchors, tags or multi-document files.
 * The project has no YAML dependency and CI may lack PyYAML; anything outside
 * the subset throws, so a file drifting out of it fails its test loudly
 * instead of parsing wrongly.
 */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  number: number;
}

export class YamlSubsetError extends Error {}

export function parseYaml(source: string): YamlValue {
  const lines = toLines(source);
  if (lines.length === 0) return null;
  const cursor = { index: 0 };
  const value = parseBlock(lines, cursor, lines[0]!.indent);
  if (cursor.index < lines.length) {
    const line = lines[cursor.index]!;
    throw new YamlSubsetError(`line ${line.number}: unexpected indentation`);
  }
  return value;
}

function toLines(source: string): Line[] {
  const out: Line[] = [];
  const raw = source.replace(/\r\n/g, '\n').split('\n');
  for (let i = 0; i < raw.length; i++) {
    const full = raw[i]!;
    if (/^\s*\t/.test(full)) throw new YamlSubsetError(`line ${i + 1}: tab indentation`);
    const text = stripComment(full).trimEnd();
    if (text.trim() === '' || text.trim() === '---') continue;
    out.push({ indent: text.length - text.trimStart().length, text: text.trimStart(), number: i + 1 });
  }
  return out;
}

/** Drops a `#` comment that is outside quotes and preceded by whitespace (or starts the line). */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote !== null) {
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

function parseBlock(lines: Line[], cursor: { index: number }, indent: number): YamlValue {
  const first = lines[cursor.index]!;
  if (first.text === '-' || first.text.startsWith('- ')) return parseSequence(lines, cursor, indent);
  return parseMapping(lines, cursor, indent);
}

function parseSequence(lines: Line[], cursor: { index: number }, indent: number): YamlValue[] {
  const items: YamlValue[] = [];
  while (cursor.index < lines.length) {
    const line = lines[cursor.index]!;
    if (line.indent < indent) break;
    if (line.indent > indent) throw new YamlSubsetError(`line ${line.number}: unexpected indentation in a sequence`);
    if (!(line.text === '-' || line.text.startsWith('- '))) break;
    const rest = line.text.slice(1).trimStart();
    if (rest === '') {
      cursor.index++;
      items.push(nestedOrNull(lines, cursor, indent));
    } else if (isMappingEntry(rest)) {
      // "- key: value" opens a mapping whose further keys sit at the column of "key".
      const column = indent + (line.text.length - rest.length);
      lines[cursor.index] = { indent: column, text: rest, number: line.number };
      items.push(parseMapping(lines, cursor, column));
    } else {
      cursor.index++;
      items.push(parseInlineValue(rest, line, lines, cursor, indent));
    }
  }
  return items;
}

function parseMapping(lines: Line[], cursor: { index: number }, indent: number): { [key: string]: YamlValue } {
  const map: { [key: string]: YamlValue } = {};
  while (cursor.index < lines.length) {
    const line = lines[cursor.index]!;
    if (line.indent < indent) break;
    if (line.indent > indent) throw new YamlSubsetError(`line ${line.number}: unexpected indentation in a mapping`);
    if (line.text.startsWith('- ') || line.text === '-') break;
    const entry = splitMappingEntry(line);
    if (Object.prototype.hasOwnProperty.call(map, entry.key)) throw new YamlSubsetError(`line ${line.number}: duplicate key ${entry.key}`);
    cursor.index++;
    if (entry.rest === '') {
      const next = lines[cursor.index];
      // A sequence may sit at the same indentation as its key (compose style).
      if (next !== undefined && next.indent === indent && (next.text.startsWith('- ') || next.text === '-')) {
        map[entry.key] = parseSequence(lines, cursor, indent);
      } else {
        map[entry.key] = nestedOrNull(lines, cursor, indent);
      }
    } else {
      map[entry.key] = parseInlineValue(entry.rest, line, lines, cursor, indent);
    }
  }
  return map;
}

function nestedOrNull(lines: Line[], cursor: { index: number }, parentIndent: number): YamlValue {
  const next = lines[cursor.index];
  if (next === undefined || next.indent <= parentIndent) return null;
  return parseBlock(lines, cursor, next.indent);
}

function isMappingEntry(text: string): boolean {
  return /^("[^"]*"|'[^']*'|[^\s"'{[][^:]*?):(\s|$)/.test(text);
}

function splitMappingEntry(line: Line): { key: string; rest: string } {
  const match = /^("[^"]*"|'[^']*'|[^\s"'{[][^:]*?):(?:\s+(.*))?$/.exec(line.text);
  if (match === null) throw new YamlSubsetError(`line ${line.number}: expected "key: value", got ${JSON.stringify(line.text)}`);
  const rawKey = match[1]!;
  const key = rawKey.startsWith('"') || rawKey.startsWith("'") ? rawKey.slice(1, -1) : rawKey.trim();
  return { key, rest: (match[2] ?? '').trim() };
}

function parseInlineValue(text: string, line: Line, lines: Line[], cursor: { index: number }, indent: number): YamlValue {
  if (/^[|>][+-]?$/.test(text)) return parseBlockScalar(text, lines, cursor, indent);
  if (text.startsWith('&') || text.startsWith('*') || text.startsWith('!')) {
    throw new YamlSubsetError(`line ${line.number}: anchors, aliases and tags are outside the subset`);
  }
  return parseFlowOrScalar(text, line);
}

function parseBlockScalar(header: string, lines: Line[], cursor: { index: number }, indent: number): string {
  const parts: string[] = [];
  let blockIndent = -1;
  while (cursor.index < lines.length && lines[cursor.index]!.indent > indent) {
    const line = lines[cursor.index]!;
    if (blockIndent < 0) blockIndent = line.indent;
    parts.push(' '.repeat(Math.max(0, line.indent - blockIndent)) + line.text);
    cursor.index++;
  }
  // Comment stripping and blank-line dropping are approximations inside block scalars: fine for our files.
  const joined = header.startsWith('|') ? parts.join('\n') : parts.join(' ');
  return header.endsWith('-') ? joined : `${joined}\n`;
}

function parseFlowOrScalar(text: string, line: Line): YamlValue {
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) throw new YamlSubsetError(`line ${line.number}: multi-line flow sequences are outside the subset`);
    const inner = text.slice(1, -1).trim();
    if (inner === '') return [];
    return splitFlow(inner, line).map((item) => parseFlowOrScalar(item, line));
  }
  if (text.startsWith('{')) {
    if (!text.endsWith('}')) throw new YamlSubsetError(`line ${line.number}: multi-line flow mappings are outside the subset`);
    const inner = text.slice(1, -1).trim();
    const map: { [key: string]: YamlValue } = {};
    if (inner === '') return map;
    for (const item of splitFlow(inner, line)) {
      const entry = splitMappingEntry({ ...line, text: item });
      map[entry.key] = parseFlowOrScalar(entry.rest, line);
    }
    return map;
  }
  return parseScalar(text, line);
}

function splitFlow(inner: string, line: Line): string[] {
  const items: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i]!;
    if (quote !== null) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 0) {
      items.push(inner.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (quote !== null || depth !== 0) throw new YamlSubsetError(`line ${line.number}: unbalanced flow collection`);
  items.push(inner.slice(start).trim());
  return items;
}

function parseScalar(text: string, line: Line): YamlValue {
  if (text.startsWith('- ')) throw new YamlSubsetError(`line ${line.number}: nested block sequences on one line are outside the subset`);
  if (text.startsWith('"')) {
    if (!text.endsWith('"') || text.length < 2) throw new YamlSubsetError(`line ${line.number}: unterminated string`);
    return JSON.parse(text) as string;
  }
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2) throw new YamlSubsetError(`line ${line.number}: unterminated string`);
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (text === 'null' || text === '~') return null;
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/.test(text)) return Number(text);
  return text;
}

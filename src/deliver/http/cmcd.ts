import type { RequestContext } from '../../http/uws-helpers.js';

/**
 * Common Media Client Data (CTA-5004): what a player says about itself on
 * each media request, as the `CMCD=` query parameter or the CMCD-Request,
 * CMCD-Object, CMCD-Status and CMCD-Session headers. Both carry a
 * Structured Field dictionary (RFC 8941): `key[=value]` members separated by
 * commas; a bare key is `true`; strings are quoted; tokens are not.
 *
 * The parser is hand-written because it runs on every media request: it
 * writes into one reused CmcdData (no object per request), slices only the
 * two free-text strings (sid, cid), interns tokens, and never throws: a
 * malformed member is skipped up to the next comma, an unknown key is
 * ignored, and the request is served either way.
 */

/** Object types (ot), stream formats (sf) and stream types (st), interned: comparing them is a pointer check. */
const TOKENS = ['m', 'a', 'v', 'av', 'i', 'c', 'tt', 'k', 'o', 'd', 'h', 's', 'l'] as const;
export type CmcdToken = (typeof TOKENS)[number];

/** CTA-5004 limits sid and cid to 64 characters; anything longer is not a CMCD value. */
const MAX_STRING = 64;

export class CmcdData {
  /** any CMCD member was read */
  present = false;
  /** session id (sid) */
  sid: string | null = null;
  /** content id (cid) */
  cid: string | null = null;
  /** buffer starvation since the previous request (bs) */
  bs = false;
  /** startup: the object is needed urgently to start or resume playback (su) */
  su = false;
  /** measured throughput, kbps (mtp); NaN when absent */
  mtp = NaN;
  /** encoded bitrate of the object, kbps (br); NaN when absent */
  br = NaN;
  /** buffer length, ms (bl); NaN when absent */
  bl = NaN;
  /** object duration, ms (d); NaN when absent */
  d = NaN;
  /** top bitrate, kbps (tb); NaN when absent */
  tb = NaN;
  /** requested maximum throughput, kbps (rtp); NaN when absent */
  rtp = NaN;
  /** object type (ot) */
  ot: CmcdToken | null = null;
  /** stream type: v(od) or l(ive) (st) */
  st: CmcdToken | null = null;
  /** streaming format: d(ash), h(ls), s(mooth), o(ther) (sf) */
  sf: CmcdToken | null = null;
  /** CMCD version (v); 1 when absent */
  v = 1;

  reset(): void {
    this.present = false;
    this.sid = null;
    this.cid = null;
    this.bs = false;
    this.su = false;
    this.mtp = NaN;
    this.br = NaN;
    this.bl = NaN;
    this.d = NaN;
    this.tb = NaN;
    this.rtp = NaN;
    this.ot = null;
    this.st = null;
    this.sf = null;
    this.v = 1;
  }
}

const HEADERS = ['cmcd-request', 'cmcd-object', 'cmcd-status', 'cmcd-session'] as const;

/**
 * Reads a media request's CMCD into `into` (reset first): the query's
 * `CMCD=` (already URL-decoded by the caller's URLSearchParams) and the four
 * CMCD headers. Returns whether any member was read.
 */
export function readCmcd(ctx: RequestContext, params: URLSearchParams, into: CmcdData): boolean {
  into.reset();
  const query = params.get('CMCD');
  if (query !== null) parseCmcd(query, into);
  // the headers only when the query had none: a player sends one or the other
  if (!into.present && ctx.headers.size > 0) {
    for (const name of HEADERS) {
      const value = ctx.headers.get(name);
      if (value !== undefined) parseCmcd(value, into);
    }
  }
  return into.present;
}

// character codes
const COMMA = 44;
const EQUALS = 61;
const QUOTE = 34;
const BACKSLASH = 92;
const SPACE = 32;
const TAB = 9;
const OPEN = 40;
const CLOSE = 41;
const SEMICOLON = 59;
const QUESTION = 63;
const MINUS = 45;
const DOT = 46;

function isLcAlpha(c: number): boolean {
  return c >= 97 && c <= 122;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isKeyChar(c: number): boolean {
  return isLcAlpha(c) || isDigit(c) || c === 95 /* _ */ || c === MINUS || c === DOT || c === 42 /* * */;
}

function isTokenChar(c: number): boolean {
  // RFC 8941 tchar plus ':' and '/', without the delimiters this grammar splits on
  return c > SPACE && c < 127 && c !== COMMA && c !== QUOTE && c !== OPEN && c !== CLOSE && c !== SEMICOLON && c !== EQUALS && c !== BACKSLASH;
}

/** Scratch for one parsed value: its kind and what it holds (reused, module-level: parsing is synchronous). */
const enum Kind {
  None,
  True,
  False,
  Number,
  String,
  Token,
}
let valueKind = Kind.None;
let valueNumber = NaN;
let valueStart = 0;
let valueEnd = 0;
let valueEscaped = false;

/**
 * Parses one CMCD dictionary into `into`, keeping what it already holds for
 * keys this text does not name. Never throws.
 */
export function parseCmcd(text: string, into: CmcdData): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    // optional whitespace before the member
    while (i < n && (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB)) i++;
    if (i >= n) return;
    const keyStart = i;
    if (!isLcAlpha(text.charCodeAt(i)) && text.charCodeAt(i) !== 42) {
      i = skipMember(text, i);
      continue;
    }
    while (i < n && isKeyChar(text.charCodeAt(i))) i++;
    const keyEnd = i;
    let ok = true;
    if (i < n && text.charCodeAt(i) === EQUALS) {
      i = readValue(text, i + 1);
      if (i < 0) ok = false;
    } else {
      valueKind = Kind.True;
    }
    if (ok) {
      // parameters (;name=value) are allowed by the grammar and meaningless to CMCD: skipped
      while (i < n && text.charCodeAt(i) === SEMICOLON) i = skipParameter(text, i + 1);
      if (i > n) ok = false;
      while (i < n && (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB)) i++;
      if (i < n && text.charCodeAt(i) !== COMMA) ok = false;
    }
    if (!ok) {
      i = skipMember(text, keyStart);
      continue;
    }
    assign(text, keyStart, keyEnd, into);
    i++; // the comma
  }
}

/** Past the member starting at i: the index after the next comma outside quotes (or the end). */
function skipMember(text: string, i: number): number {
  const n = text.length;
  let quoted = false;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) quoted = false;
    } else if (c === QUOTE) quoted = true;
    else if (c === COMMA) return i + 1;
  }
  return n;
}

/** Skips one `;name[=value]` parameter; returns where it ended (the value scratch is saved around it). */
function skipParameter(text: string, i: number): number {
  const kind = valueKind;
  const num = valueNumber;
  const start = valueStart;
  const end = valueEnd;
  const escaped = valueEscaped;
  const n = text.length;
  while (i < n && text.charCodeAt(i) === SPACE) i++;
  while (i < n && isKeyChar(text.charCodeAt(i))) i++;
  if (i < n && text.charCodeAt(i) === EQUALS) {
    const next = readBareItem(text, i + 1);
    i = next < 0 ? n + 1 : next; // malformed: past the end, so that the caller's comma check fails
  }
  valueKind = kind;
  valueNumber = num;
  valueStart = start;
  valueEnd = end;
  valueEscaped = escaped;
  return Math.min(i, n + 1);
}

/** A member's value at i: a bare item or an inner list (its first item kept: CMCD v2 sends br, bl, mtp as lists). -1 when malformed. */
function readValue(text: string, i: number): number {
  if (i < text.length && text.charCodeAt(i) === OPEN) {
    const n = text.length;
    i++;
    let first = true;
    let kind = Kind.None;
    let num = NaN;
    let start = 0;
    let end = 0;
    let escaped = false;
    for (;;) {
      while (i < n && text.charCodeAt(i) === SPACE) i++;
      if (i >= n) return -1;
      if (text.charCodeAt(i) === CLOSE) {
        i++;
        break;
      }
      i = readBareItem(text, i);
      if (i < 0) return -1;
      while (i < text.length && text.charCodeAt(i) === SEMICOLON) {
        i = skipParameter(text, i + 1);
        if (i > n) return -1;
      }
      if (first) {
        first = false;
        kind = valueKind;
        num = valueNumber;
        start = valueStart;
        end = valueEnd;
        escaped = valueEscaped;
      }
      if (i < n && text.charCodeAt(i) !== SPACE && text.charCodeAt(i) !== CLOSE) return -1;
    }
    valueKind = kind;
    valueNumber = num;
    valueStart = start;
    valueEnd = end;
    valueEscaped = escaped;
    return i;
  }
  return readBareItem(text, i);
}

/** One bare item at i into the scratch; returns the index after it, -1 when malformed. */
function readBareItem(text: string, i: number): number {
  const n = text.length;
  if (i >= n) return -1;
  const c = text.charCodeAt(i);
  if (c === QUOTE) {
    i++;
    valueStart = i;
    valueEscaped = false;
    for (; i < n; i++) {
      const ch = text.charCodeAt(i);
      if (ch === BACKSLASH) {
        const next = text.charCodeAt(i + 1);
        if (next !== QUOTE && next !== BACKSLASH) return -1;
        valueEscaped = true;
        i++;
      } else if (ch === QUOTE) {
        valueEnd = i;
        valueKind = Kind.String;
        return i + 1;
      } else if (ch < SPACE || ch > 126) {
        return -1;
      }
    }
    return -1;
  }
  if (c === QUESTION) {
    const b = text.charCodeAt(i + 1);
    if (b === 49) valueKind = Kind.True;
    else if (b === 48) valueKind = Kind.False;
    else return -1;
    return i + 2;
  }
  if (isDigit(c) || c === MINUS) return readNumber(text, i);
  if (isLcAlpha(c) || (c >= 65 && c <= 90) || c === 42) {
    valueStart = i;
    while (i < n && isTokenChar(text.charCodeAt(i))) i++;
    valueEnd = i;
    valueKind = Kind.Token;
    return i;
  }
  return -1;
}

/** An integer or decimal (RFC 8941: at most 15 integer digits, 3 fraction digits); -1 when malformed. */
function readNumber(text: string, i: number): number {
  const n = text.length;
  let sign = 1;
  if (text.charCodeAt(i) === MINUS) {
    sign = -1;
    i++;
  }
  let digits = 0;
  let value = 0;
  while (i < n && isDigit(text.charCodeAt(i))) {
    value = value * 10 + (text.charCodeAt(i) - 48);
    i++;
    if (++digits > 15) return -1;
  }
  if (digits === 0) return -1;
  if (i < n && text.charCodeAt(i) === DOT) {
    i++;
    let scale = 1;
    let fraction = 0;
    while (i < n && isDigit(text.charCodeAt(i))) {
      if (scale >= 1000) return -1;
      fraction = fraction * 10 + (text.charCodeAt(i) - 48);
      scale *= 10;
      i++;
    }
    if (scale === 1) return -1;
    value += fraction / scale;
  }
  valueKind = Kind.Number;
  valueNumber = sign * value;
  return i;
}

function keyIs(text: string, start: number, end: number, key: string): boolean {
  if (end - start !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (text.charCodeAt(start + k) !== key.charCodeAt(k)) return false;
  return true;
}

/** The scratch as a non-negative finite number, else NaN (a wrong type is ignored rather than guessed at). */
function numberValue(): number {
  return valueKind === Kind.Number && valueNumber >= 0 && Number.isFinite(valueNumber) ? valueNumber : NaN;
}

function stringValue(text: string): string | null {
  if (valueKind !== Kind.String || valueEnd - valueStart > MAX_STRING) return null;
  const raw = text.slice(valueStart, valueEnd);
  return valueEscaped ? raw.replace(/\\(["\\])/g, '$1') : raw;
}

function tokenValue(text: string): CmcdToken | null {
  if (valueKind !== Kind.Token) return null;
  for (const token of TOKENS) if (keyIs(text, valueStart, valueEnd, token)) return token;
  return null;
}

/** Stores the member key[start,end) = scratch value when it is a key this server reads with the type CTA-5004 gives it. */
function assign(text: string, start: number, end: number, into: CmcdData): void {
  // any well-formed member counts: a player that sends only keys this server skips still speaks CMCD
  into.present = true;
  const length = end - start;
  if (length > 3) return;
  const a = text.charCodeAt(start);
  const b = length > 1 ? text.charCodeAt(start + 1) : 0;
  const c = length > 2 ? text.charCodeAt(start + 2) : 0;
  if (length === 1) {
    if (a === 100 /* d */) {
      const v = numberValue();
      if (v === v) into.d = v;
    } else if (a === 118 /* v */) {
      const v = numberValue();
      if (v === v && v >= 1) into.v = Math.floor(v);
    }
  } else if (length === 2) {
    if (a === 98 && b === 115) {
      // bs: a boolean; ?0 clears it
      if (valueKind === Kind.True) into.bs = true;
      else if (valueKind === Kind.False) into.bs = false;
    } else if (a === 115 && b === 117) {
      if (valueKind === Kind.True) into.su = true;
      else if (valueKind === Kind.False) into.su = false;
    } else if (a === 98 && b === 114) {
      const v = numberValue();
      if (v === v) into.br = v;
    } else if (a === 98 && b === 108) {
      const v = numberValue();
      if (v === v) into.bl = v;
    } else if (a === 116 && b === 98) {
      const v = numberValue();
      if (v === v) into.tb = v;
    } else if (a === 111 && b === 116) {
      const t = tokenValue(text);
      if (t !== null) into.ot = t;
    } else if (a === 115 && b === 116) {
      const t = tokenValue(text);
      if (t === 'v' || t === 'l') into.st = t;
    } else if (a === 115 && b === 102) {
      const t = tokenValue(text);
      if (t === 'd' || t === 'h' || t === 's' || t === 'o') into.sf = t;
    }
  } else if (length === 3) {
    if (a === 115 && b === 105 && c === 100) {
      const s = stringValue(text);
      if (s !== null && s.length > 0) into.sid = s;
    } else if (a === 99 && b === 105 && c === 100) {
      const s = stringValue(text);
      if (s !== null && s.length > 0) into.cid = s;
    } else if (a === 109 && b === 116 && c === 112) {
      const v = numberValue();
      if (v === v) into.mtp = v;
    } else if (a === 114 && b === 116 && c === 112) {
      const v = numberValue();
      if (v === v) into.rtp = v;
    }
  }
}

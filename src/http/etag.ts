import { createHash } from 'node:crypto';

/** A strong ETag of a text body: the same text gives the same tag on every instance. */
export function strongEtag(text: string): string {
  return `"${createHash('sha1').update(text).digest('base64url')}"`;
}

/** If-None-Match (RFC 9110 13.1.2): '*' or any listed tag, weak or strong, matches. */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined || ifNoneMatch === '') return false;
  if (ifNoneMatch.trim() === '*') return true;
  for (const candidate of ifNoneMatch.split(',')) {
    const trimmed = candidate.trim();
    if (trimmed === etag || trimmed === `W/${etag}`) return true;
  }
  return false;
}

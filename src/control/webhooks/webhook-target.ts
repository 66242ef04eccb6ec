import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { NovaError } from '../../errors.js';

/**
 * Where webhooks may point. A target on a private, loopback, link-local or
 * otherwise internal address is refused unless WEBHOOK_ALLOW_PRIVATE is on
 * (tests, or a deployment that posts to its own network on purpose): a
 * webhook URL is user input, and without this check it reaches whatever the
 * server can. The check runs at registration on the URL's addresses and again
 * at every connection (the lookup below), so a name that later resolves
 * inward is refused too.
 */

const INTERNAL = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv6');
}

export const MAX_WEBHOOK_URL_LENGTH = 2000;

export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return INTERNAL.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return INTERNAL.check(mapped[1]!, 'ipv4');
  return INTERNAL.check(address, 'ipv6');
}

/** The URL of a webhook as given, or a coded 400: http(s), no credentials, bounded. */
export function parseWebhookUrl(raw: unknown): URL {
  if (typeof raw !== 'string' || raw.length === 0) throw new NovaError('NOVA_ERR_BAD_REQUEST', 'url must be a non-empty string');
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) throw new NovaError('NOVA_ERR_BAD_REQUEST', `url must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new NovaError('NOVA_ERR_BAD_REQUEST', 'url is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new NovaError('NOVA_ERR_BAD_REQUEST', 'url must be http or https');
  if (url.username !== '' || url.password !== '') throw new NovaError('NOVA_ERR_BAD_REQUEST', 'url must not carry credentials');
  return url;
}

/** Refuses (403) a target whose host is or resolves to an internal address, unless allowed. */
export async function checkWebhookTarget(url: URL, allowInternal: boolean): Promise<void> {
  if (allowInternal) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = (await new Promise<LookupAddress[]>((resolve, reject) =>
        dnsLookup(host, { all: true }, (err, found) => (err ? reject(err) : resolve(found))),
      )).map((a) => a.address);
    } catch {
      throw new NovaError('NOVA_ERR_BAD_REQUEST', `url's host ${JSON.stringify(host.slice(0, 100))} does not resolve`);
    }
  }
  if (addresses.some(isInternalAddress)) {
    throw new NovaError('NOVA_ERR_FORBIDDEN', 'url points at a private or loopback address (WEBHOOK_ALLOW_PRIVATE=on allows it)');
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A dns.lookup for outgoing webhook connections that refuses internal addresses (unless allowed). */
export function webhookLookup(allowInternal: boolean) {
  return (hostname: string, options: object, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const usable = allowInternal ? addresses : addresses.filter((a) => !isInternalAddress(a.address));
      if (usable.length === 0) {
        return callback(Object.assign(new Error(`${hostname} resolves only to private or loopback addresses`), { code: 'ENOTALLOWED' }), []);
      }
      if ((options as { all?: boolean }).all) return callback(null, usable);
      callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
}

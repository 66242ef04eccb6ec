import { connect, type Socket } from 'node:net';

/**
 * A minimal HTTP/1.1 GET client for load generators that must make thousands
 * of requests a second from one core: a pool of keep-alive sockets, one
 * request in flight per socket, the request written as one string and the
 * answer read by its Content-Length. node:http builds a ClientRequest, an
 * IncomingMessage, a headers object and several closures per request; this
 * costs a few string operations and one pending-request record. It speaks
 * only what the servers it drives answer: `Content-Length` bodies (a chunked
 * or unframed answer is an error and its socket is closed), no redirects, no TLS.
 */

export interface GetResult {
  /** 0 when the request failed before a status line */
  status: number;
  /** the body as UTF-8 when asked for text, else null */
  text: string | null;
  /** body bytes read */
  bytes: number;
}

type Done = (result: GetResult) => void;

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = 'content-length:';

class Connection {
  readonly socket: Socket;
  private done: Done | null = null;
  private asText = false;
  /** header bytes received so far (an answer's head may arrive in pieces) */
  private head: Buffer | null = null;
  private status = 0;
  /** body bytes still expected; -1 while the head is incomplete */
  private remaining = -1;
  private bytes = 0;
  private chunks: Buffer[] = [];
  closed = false;

  constructor(
    host: string,
    port: number,
    private readonly release: (connection: Connection) => void,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (data: Buffer) => this.onData(data));
    const fail = (): void => {
      this.closed = true;
      this.finish(0);
    };
    this.socket.on('error', fail);
    this.socket.on('close', fail);
  }

  send(request: string, asText: boolean, done: Done): void {
    this.done = done;
    this.asText = asText;
    this.head = null;
    this.status = 0;
    this.remaining = -1;
    this.bytes = 0;
    this.chunks = [];
    this.socket.write(request);
  }

  private onData(data: Buffer): void {
    if (this.done === null) {
      // bytes nobody asked for: the server broke framing
      this.socket.destroy();
      return;
    }
    if (this.remaining < 0) {
      const head = this.head === null ? data : Buffer.concat([this.head, data]);
      const end = head.indexOf(HEADER_END);
      if (end < 0) {
        this.head = head;
        return;
      }
      this.head = null;
      this.status = (head[9]! - 48) * 100 + (head[10]! - 48) * 10 + (head[11]! - 48);
      const headers = head.toString('latin1', 0, end).toLowerCase();
      const at = headers.indexOf(CONTENT_LENGTH);
      if (at < 0) {
        // not framed by length (chunked, or read to close): not spoken here
        this.socket.destroy();
        return;
      }
      this.remaining = Number.parseInt(headers.slice(at + CONTENT_LENGTH.length, headers.indexOf('\r\n', at) >>> 0), 10);
      data = head.subarray(end + 4);
    }
    const take = Math.min(this.remaining, data.length);
    this.remaining -= take;
    this.bytes += take;
    if (this.asText && take > 0) this.chunks.push(take === data.length ? data : data.subarray(0, take));
    if (this.remaining === 0) {
      if (data.length > take) {
        this.socket.destroy();
        return;
      }
      this.finish(this.status);
      this.release(this);
    }
  }

  private finish(status: number): void {
    const done = this.done;
    if (done === null) return;
    this.done = null;
    const text = status !== 0 && this.asText ? Buffer.concat(this.chunks).toString('utf8') : null;
    this.chunks = [];
    done({ status, text, bytes: this.bytes });
  }
}

/** Keep-alive sockets to one origin, opened as requests need them and reused, newest idle first. */
export class KeepAlivePool {
  private readonly idle: Connection[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;
  private readonly releaseFn = (connection: Connection): void => {
    if (!connection.closed) this.idle.push(connection);
  };

  constructor(origin: string) {
    const url = new URL(origin);
    if (url.protocol !== 'http:') throw new Error(`only http: origins, not ${url.protocol}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.hostHeader = url.host;
  }

  /** GETs `pathAndQuery` (already encoded); never rejects: a failure is status 0. */
  get(pathAndQuery: string, asText: boolean): Promise<GetResult> {
    const request = `GET ${pathAndQuery} HTTP/1.1\r\nHost: ${this.hostHeader}\r\nUser-Agent: nova-loadtest\r\n\r\n`;
    let connection = this.idle.pop();
    while (connection !== undefined && connection.closed) connection = this.idle.pop();
    if (connection === undefined) return new Promise((resolve) => this.open().send(request, asText, resolve));
    const reused = connection;
    return new Promise((resolve) =>
      reused.send(request, asText, (result) => {
        // an idle socket the server closed meanwhile: sent again once, on a new one
        if (result.status === 0 && result.bytes === 0) this.open().send(request, asText, resolve);
        else resolve(result);
      }),
    );
  }

  private open(): Connection {
    return new Connection(this.host, this.port, this.releaseFn);
  }

  close(): void {
    for (const connection of this.idle) connection.socket.destroy();
    this.idle.length = 0;
  }
}

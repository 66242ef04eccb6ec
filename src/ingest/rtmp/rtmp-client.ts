/**
 * A thin net.Socket wrapper around RtmpClientSession: an RTMP publisher
 * for tests, load generation and relaying.
 *
 *   const client = await RtmpClient.connect('rtmp://127.0.0.1:1935/live/KEY');
 *   await client.publish();            // resolves on NetStream.Publish.Start
 *   client.sendMetadata({...}); client.sendVideo(ts, flvBody); client.sendAudio(ts, flvBody);
 *   await client.close();              // FCUnpublish + deleteStream, then FIN
 */
import net from 'node:net';
import { NovaError } from '../../errors.js';
import { RtmpClientSession, type RtmpClientSessionOptions, type RtmpMetadata } from './rtmp-client-session.js';

export interface RtmpUrl {
  host: string;
  port: number;
  app: string;
  /** everything after the app segment, query string included */
  streamName: string;
  /** rtmp://host:port/app, what connect's tcUrl carries */
  tcUrl: string;
}

/** rtmp://host[:port]/app[/stream[?query]] */
export function parseRtmpUrl(url: string): RtmpUrl {
  const match = /^rtmp:\/\/([^/:]+|\[[^\]]+\])(?::(\d+))?\/([^/?]+)(?:\/(.*))?$/.exec(url);
  if (match === null) throw new NovaError('NOVA_ERR_CONFIG', `not an rtmp:// URL with an app: ${url}`);
  const host = match[1].replace(/^\[|\]$/g, '');
  const port = match[2] === undefined ? 1935 : Number(match[2]);
  const app = match[3];
  return {
    host,
    port,
    app,
    streamName: match[4] ?? '',
    tcUrl: `rtmp://${match[1]}${match[2] === undefined ? '' : `:${port}`}/${app}`,
  };
}

export interface RtmpClientOptions extends RtmpClientSessionOptions {
  /** handshake + connect + publish deadline each; default 10 s */
  timeoutMs?: number;
}

export class RtmpClient {
  readonly url: RtmpUrl;
  private readonly socket: net.Socket;
  private readonly session: RtmpClientSession;
  private readonly timeoutMs: number;
  private closed = false;
  private readonly closedPromise: Promise<void>;

  private constructor(url: RtmpUrl, socket: net.Socket, options: RtmpClientOptions) {
    this.url = url;
    this.socket = socket;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.session = new RtmpClientSession((bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    }, options);
    socket.setNoDelay(true);
    socket.on('data', (bytes: Buffer) => {
      try {
        this.session.push(bytes);
      } catch {
        socket.destroy(); // the session already rejected everything pending with the error
      }
    });
    this.closedPromise = new Promise<void>((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.session.fail(new NovaError('NOVA_ERR_RTMP_PROTOCOL', 'connection closed by the server'));
        resolve();
      });
    });
    socket.on('error', (err) => this.session.fail(err));
  }

  /** TCP connect, handshake and the RTMP connect command. */
  static async connect(url: string, options: RtmpClientOptions = {}): Promise<RtmpClient> {
    const parsed = parseRtmpUrl(url);
    const socket = net.connect({ host: parsed.host, port: parsed.port });
    const client = new RtmpClient(parsed, socket, options);
    await client.deadline(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      'TCP connect',
    );
    client.session.start();
    await client.deadline(client.session.connect(parsed.app, parsed.tcUrl), 'connect');
    return client;
  }

  get bytesSent(): number {
    return this.session.bytesSent;
  }

  /** The socket has closed (either side). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether the socket's write buffer is above its high-water mark. */
  get congested(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Publishes under the URL's stream name (or the one given); resolves on NetStream.Publish.Start. */
  async publish(streamName: string = this.url.streamName): Promise<void> {
    await this.deadline(this.session.publish(streamName), 'publish');
  }

  sendMetadata(meta: RtmpMetadata): void {
    this.session.sendMetadata(meta);
  }

  sendVideo(timestamp: number, flvBody: Uint8Array): void {
    this.session.sendVideo(timestamp, flvBody);
  }

  sendAudio(timestamp: number, flvBody: Uint8Array): void {
    this.session.sendAudio(timestamp, flvBody);
  }

  /** Resolves when the socket's write buffer has drained (backpressure for real-time senders). */
  drain(): Promise<void> {
    if (!this.socket.writableNeedDrain || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** FCUnpublish + deleteStream (if a stream was published), then end the connection. */
  async close(streamName: string = this.url.streamName, unpublish = true): Promise<void> {
    if (!this.closed) {
      if (unpublish) {
        try {
          this.session.unpublish(streamName);
        } catch {
          // already failed: just close
        }
      }
      this.socket.end();
      const timer = setTimeout(() => this.socket.destroy(), 2000);
      await this.closedPromise;
      clearTimeout(timer);
    }
  }

  /** Immediate teardown. */
  destroy(): void {
    this.socket.destroy();
  }

  private async deadline<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NovaError('NOVA_ERR_RTMP_TIMEOUT', `${what} took longer than ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([promise, timeout]);
    } catch (err) {
      this.socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

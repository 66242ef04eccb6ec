/**
 * The publishing side of RTMP as a protocol object: bytes in (push), bytes
 * out (send), promises for the command round trips. No socket here; see
 * rtmp-client.ts for the net.Socket wrapper.
 *
 * Sequence (what FFmpeg and OBS send): C0C1 → C2, Set Chunk Size,
 * connect → _result, releaseStream + FCPublish + createStream → _result(id),
 * publish → onStatus NetStream.Publish.Start, then data/audio/video.
 * With onReconnectRequest set, connect announces Enhanced RTMP v2 Reconnect Request
 * support (capsEx) and the server's requests are handed to it.
 */
import { NovaError } from '../../errors.js';
import { Amf0EcmaArray, encodeAmf0, type Amf0Object, type Amf0Value } from './amf0.js';
import { ChunkReader } from './chunk-reader.js';
import { ChunkWriter } from './chunk-writer.js';
import { ClientHandshake } from './handshake.js';
import { ChunkStreamId, MessageType, UserControlEvent, u32Payload, userControlPayload } from './message-types.js';
import { decodeCommand, encodeCommand } from './rtmp-command.js';
import { CapsExMask, reconnectRequestOf, type ReconnectRequest } from './reconnect-request.js';

export interface RtmpClientSessionOptions {
  /** our outgoing chunk size, announced right after the handshake; default 4096 */
  chunkSize?: number;
  /** largest message accepted from the server; default 1 MiB */
  maxMessageBytes?: number;
  /** flashVer in connect; default FMLE-like string that servers recognise as a publisher */
  flashVer?: string;
  /**
   * Honours Enhanced RTMP v2 Reconnect Requests: connect announces it (capsEx) and the server's
   * requests come here. Only for callers that do reconnect: announcing it makes a draining
   * server ask instead of closing the connection.
   */
  onReconnectRequest?: (request: ReconnectRequest) => void;
}

/** The server answered publish (or connect) with an error status. */
export class RtmpStatusError extends NovaError {
  /** e.g. 'NetStream.Publish.BadName' */
  readonly statusCode: string;
  constructor(statusCode: string, description: string) {
    super('NOVA_ERR_RTMP_PROTOCOL', `${statusCode}: ${description}`);
    this.statusCode = statusCode;
  }
}

interface PendingCall {
  resolve(values: Amf0Value[]): void;
  reject(err: Error): void;
}

export type RtmpMetadata = Record<string, string | number | boolean>;

export class RtmpClientSession {
  private readonly send: (bytes: Uint8Array) => void;
  private readonly handshake = new ClientHandshake();
  private readonly reader: ChunkReader;
  private readonly writer = new ChunkWriter();
  private readonly chunkSize: number;
  private readonly flashVer: string;
  private readonly onReconnectRequest: ((request: ReconnectRequest) => void) | null;
  private readonly pending = new Map<number, PendingCall>();
  private nextTransactionId = 1;
  private handshakeDone: Promise<void>;
  private resolveHandshake!: () => void;
  private rejectHandshake!: (err: Error) => void;
  private publishWaiter: PendingCall | null = null;
  private streamId = 0;
  private received = 0;
  private lastAcknowledged = 0;
  private serverWindowAckSize = 0;
  private failure: Error | null = null;
  private sent = 0;

  constructor(send: (bytes: Uint8Array) => void, options: RtmpClientSessionOptions = {}) {
    this.send = (bytes) => {
      this.sent += bytes.length;
      send(bytes);
    };
    this.chunkSize = options.chunkSize ?? 4096;
    this.flashVer = options.flashVer ?? 'FMLE/3.0 (compatible; nova-streaming)';
    this.onReconnectRequest = options.onReconnectRequest ?? null;
    this.reader = new ChunkReader(this.onMessage.bind(this), {
      maxMessageBytes: options.maxMessageBytes ?? 1 << 20,
      maxChunkSize: 0xffffff,
    });
    this.handshakeDone = new Promise<void>((resolve, reject) => {
      this.resolveHandshake = resolve;
      this.rejectHandshake = reject;
    });
    this.handshakeDone.catch(() => undefined); // failures surface through the command promises
  }

  get bytesSent(): number {
    return this.sent;
  }

  /** Sends C0+C1. */
  start(): void {
    this.send(this.handshake.start());
  }

  push(bytes: Uint8Array): void {
    if (this.failure !== null) return;
    this.received += bytes.length;
    try {
      let offset = 0;
      if (!this.handshake.isDone()) {
        offset = this.handshake.push(bytes, 0, this.send);
        if (!this.handshake.isDone()) return;
        this.afterHandshake();
      }
      if (offset < bytes.length) this.reader.push(offset === 0 ? bytes : bytes.subarray(offset));
      this.acknowledgeIfDue();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  /** Rejects every pending call (socket closed, timeout, protocol error). */
  fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    this.rejectHandshake(err);
    for (const call of this.pending.values()) call.reject(err);
    this.pending.clear();
    this.publishWaiter?.reject(err);
    this.publishWaiter = null;
  }

  private afterHandshake(): void {
    this.sendMessage(ChunkStreamId.protocolControl, MessageType.setChunkSize, 0, 0, u32Payload(this.chunkSize));
    this.writer.setChunkSize(this.chunkSize);
    this.resolveHandshake();
  }

  /** connect(app) → the _result values; rejects on _error. */
  async connect(app: string, tcUrl: string): Promise<Amf0Value[]> {
    await this.handshakeDone;
    const commandObject: Amf0Object = { app, type: 'nonprivate', flashVer: this.flashVer, tcUrl };
    if (this.onReconnectRequest !== null) commandObject.capsEx = CapsExMask.reconnect;
    return this.call('connect', commandObject);
  }

  /** releaseStream + FCPublish + createStream + publish; resolves on NetStream.Publish.Start. */
  async publish(streamName: string): Promise<void> {
    this.sendCommand('releaseStream', this.nextTransactionId++, 0, null, streamName);
    this.sendCommand('FCPublish', this.nextTransactionId++, 0, null, streamName);
    const created = await this.call('createStream', null);
    const id = created[1];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `createStream returned ${String(id)}`);
    }
    this.streamId = id;
    const started = new Promise<Amf0Value[]>((resolve, reject) => {
      this.publishWaiter = { resolve, reject };
    });
    this.sendCommand('publish', 0, id, null, streamName, 'live');
    await started;
  }

  sendMetadata(meta: RtmpMetadata): void {
    const payload = encodeDataFrame(meta);
    this.sendMessage(ChunkStreamId.data, MessageType.dataAmf0, this.streamId, 0, payload);
  }

  /** One FLV video tag body (frame type/codec byte onwards). */
  sendVideo(timestamp: number, body: Uint8Array): void {
    this.sendMessage(ChunkStreamId.video, MessageType.video, this.streamId, timestamp, body);
  }

  /** One FLV audio tag body (sound format byte onwards). */
  sendAudio(timestamp: number, body: Uint8Array): void {
    this.sendMessage(ChunkStreamId.audio, MessageType.audio, this.streamId, timestamp, body);
  }

  /** FCUnpublish + deleteStream (what FFmpeg sends before closing). */
  unpublish(streamName: string): void {
    this.sendCommand('FCUnpublish', this.nextTransactionId++, 0, null, streamName);
    this.sendCommand('deleteStream', this.nextTransactionId++, 0, null, this.streamId);
  }

  private sendMessage(chunkStreamId: number, typeId: number, streamId: number, timestamp: number, payload: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    this.send(this.writer.writeMessage(chunkStreamId, typeId, streamId, timestamp, payload));
  }

  private sendCommand(name: string, transactionId: number, streamId: number, ...args: Amf0Value[]): void {
    this.sendMessage(ChunkStreamId.command, MessageType.commandAmf0, streamId, 0, encodeCommand(name, transactionId, ...args));
  }

  private call(name: string, ...args: Amf0Value[]): Promise<Amf0Value[]> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const transactionId = this.nextTransactionId++;
    const result = new Promise<Amf0Value[]>((resolve, reject) => {
      this.pending.set(transactionId, { resolve, reject });
    });
    this.sendCommand(name, transactionId, 0, ...args);
    return result;
  }

  private acknowledgeIfDue(): void {
    if (this.serverWindowAckSize === 0 || this.received - this.lastAcknowledged < this.serverWindowAckSize) return;
    this.lastAcknowledged = this.received;
    this.sendMessage(ChunkStreamId.protocolControl, MessageType.acknowledgement, 0, 0, u32Payload(this.received % 0x100000000));
  }

  private onMessage(typeId: number, _streamId: number, _timestamp: number, payload: Uint8Array): void {
    switch (typeId) {
      case MessageType.commandAmf0:
      case MessageType.commandAmf3:
        this.onCommand(decodeCommand(typeId, payload));
        return;
      case MessageType.windowAckSize:
        if (payload.length >= 4) this.serverWindowAckSize = ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
        return;
      case MessageType.userControl:
        if (payload.length >= 6 && ((payload[0] << 8) | payload[1]) === UserControlEvent.pingRequest) {
          const value = ((payload[2] << 24) | (payload[3] << 16) | (payload[4] << 8) | payload[5]) >>> 0;
          this.sendMessage(ChunkStreamId.protocolControl, MessageType.userControl, 0, 0, userControlPayload(UserControlEvent.pingResponse, value));
        }
        return;
      default:
        return;
    }
  }

  private onCommand(command: { name: string; transactionId: number; args: Amf0Value[] }): void {
    if (command.name === '_result' || command.name === '_error') {
      const call = this.pending.get(command.transactionId);
      if (call === undefined) return; // releaseStream/FCPublish answers: nothing waits for them
      this.pending.delete(command.transactionId);
      if (command.name === '_result') {
        call.resolve(command.args);
      } else {
        const info = asObject(command.args[1]);
        call.reject(new RtmpStatusError(String(info.code ?? '_error'), String(info.description ?? '')));
      }
      return;
    }
    const onReconnect = this.onReconnectRequest;
    const reconnect = onReconnect !== null ? reconnectRequestOf(command) : null;
    if (onReconnect !== null && reconnect !== null) {
      onReconnect(reconnect);
      return;
    }
    if (command.name === 'onStatus' && this.publishWaiter !== null) {
      const info = asObject(command.args[1]);
      const waiter = this.publishWaiter;
      if (info.code === 'NetStream.Publish.Start') {
        this.publishWaiter = null;
        waiter.resolve(command.args);
      } else if (info.level === 'error') {
        this.publishWaiter = null;
        waiter.reject(new RtmpStatusError(String(info.code), String(info.description ?? '')));
      }
    }
  }
}

function asObject(value: Amf0Value): Amf0Object {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date) ? value : {};
}

/** @setDataFrame onMetaData as an ECMA array, the way FFmpeg and OBS write it. */
export function encodeDataFrame(meta: RtmpMetadata): Uint8Array {
  const properties: Amf0Object = {};
  for (const key of Object.keys(meta)) properties[key] = meta[key];
  return encodeAmf0(['@setDataFrame', 'onMetaData', new Amf0EcmaArray(properties)]);
}

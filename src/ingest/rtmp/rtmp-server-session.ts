/**
 * The RTMP protocol state machine for one publishing connection: bytes in
 * (push), replies out (handlers.send), commands and media out (handlers).
 * No sockets here: the caller owns the connection, the key check and the
 * timeouts. Play is not supported (viewers use HLS/DASH).
 *
 * Flow: handshake → connect → [releaseStream, FCPublish] → createStream →
 * publish (→ onPublishRequest; the caller answers acceptPublish() or
 * rejectPublish()) → @setDataFrame/audio/video → FCUnpublish/deleteStream.
 *
 * Enhanced RTMP v2: the connect command's capsEx is kept (peerCapsEx), our connect answer
 * states that we may send a Reconnect Request, and requestReconnect() sends one (drain).
 *
 * Any protocol violation throws NovaError from push(); the session is then
 * 'closed' and ignores further bytes. Media that arrives before the publish
 * was accepted is dropped and counted, not fatal (encoders start sending
 * right after publish without waiting for onStatus).
 */
import { NovaError } from '../../errors.js';
import { type Amf0Value } from './amf0.js';
import { ChunkReader } from './chunk-reader.js';
import { ChunkWriter } from './chunk-writer.js';
import { ServerHandshake } from './handshake.js';
import {
  ChunkStreamId,
  MessageType,
  UserControlEvent,
  setPeerBandwidthPayload,
  u32Payload,
  userControlPayload,
} from './message-types.js';
import { decodeCommand, decodeDataMessage, describe, encodeCommand, flattenMetadata, type RtmpCommand } from './rtmp-command.js';
import { CapsExMask, capsExOf, encodeReconnectRequest, type ReconnectRequest } from './reconnect-request.js';

export interface RtmpSessionLimits {
  /** largest message (e.g. one video frame) accepted; also bounds reassembly memory (2×) */
  maxMessageBytes: number;
  /** largest Set Chunk Size accepted from the peer */
  maxChunkSize: number;
}

export interface RtmpSessionHandlers {
  /** bytes to write to the socket (fresh buffers: the caller may keep them) */
  send(bytes: Uint8Array): void;
  /** the caller validates the key asynchronously then calls acceptPublish() or rejectPublish() */
  onPublishRequest(app: string, streamName: string, tcUrl: string): void;
  /** FCUnpublish / deleteStream / closeStream after publishing was accepted */
  onUnpublish(): void;
  /** @setDataFrame onMetaData, flattened to primitives */
  onMetadata(meta: Record<string, string | number | boolean | null>): void;
  /** FLV video tag body (message type 9); the view is valid only during the call */
  onVideo(timestamp: number, body: Uint8Array): void;
  /** FLV audio tag body (message type 8); the view is valid only during the call */
  onAudio(timestamp: number, body: Uint8Array): void;
  /** optional: a command this session does not handle (ignored) */
  onIgnoredCommand?(name: string): void;
}

export type RtmpSessionState = 'handshake' | 'connected' | 'publishing' | 'closed';

export type PublishRejectCode = 'NetStream.Publish.BadName' | 'NetStream.Publish.Denied';

/** What we announce: acknowledge every 2.5 MB (nginx-rtmp and FMS use similar sizes). */
export const SERVER_WINDOW_ACK_SIZE = 2_500_000;
/** Our outgoing chunk size, sent right after connect. */
export const SERVER_CHUNK_SIZE = 4096;

const AGGREGATE_TAG_HEADER = 11;

export class RtmpServerSession {
  private readonly handlers: RtmpSessionHandlers;
  private readonly handshake = new ServerHandshake();
  private readonly reader: ChunkReader;
  private readonly writer = new ChunkWriter();
  private readonly sendBound: (bytes: Uint8Array) => void;

  private stateValue: RtmpSessionState = 'handshake';
  private received = 0;
  private lastAcknowledged = 0;
  private peerWindowAckSize = 0;

  private connectSeen = false;
  private app = '';
  private tcUrl = '';
  private capsEx = 0;
  private nextStreamId = 1;
  private publishPending = false;
  private publishStreamId = 0;
  private publishName = '';

  /** commands received and ignored (unknown or not for a publisher) */
  ignoredCommands = 0;
  /** audio/video messages dropped because no publish was accepted */
  droppedMediaMessages = 0;

  constructor(handlers: RtmpSessionHandlers, limits: RtmpSessionLimits) {
    this.handlers = handlers;
    this.reader = new ChunkReader(this.onMessage.bind(this), {
      maxMessageBytes: limits.maxMessageBytes,
      maxChunkSize: limits.maxChunkSize,
    });
    this.sendBound = (bytes) => this.handlers.send(bytes);
  }

  get state(): RtmpSessionState {
    return this.stateValue;
  }

  /** All bytes pushed, handshake included. */
  get bytesReceived(): number {
    return this.received;
  }

  /** Reassembly memory currently held by the chunk reader. */
  get bufferedBytes(): number {
    return this.reader.bufferedBytes;
  }

  get appName(): string {
    return this.app;
  }

  get streamName(): string {
    return this.publishName;
  }

  /** The capsEx the client's connect announced (Enhanced RTMP v2), 0 before connect or when absent. */
  get peerCapsEx(): number {
    return this.capsEx;
  }

  push(bytes: Uint8Array): void {
    if (this.stateValue === 'closed') return;
    this.received += bytes.length;
    try {
      let offset = 0;
      if (this.stateValue === 'handshake') {
        offset = this.handshake.push(bytes, 0, this.sendBound);
        if (!this.handshake.isDone()) return;
        this.stateValue = 'connected';
        if (offset === bytes.length) return;
      }
      this.reader.push(offset === 0 ? bytes : bytes.subarray(offset));
      this.acknowledgeIfDue();
    } catch (err) {
      this.stateValue = 'closed';
      throw err;
    }
  }

  acceptPublish(): void {
    if (!this.publishPending || this.stateValue === 'closed') return;
    this.publishPending = false;
    this.stateValue = 'publishing';
    this.sendMessage(ChunkStreamId.protocolControl, MessageType.userControl, 0, userControlPayload(UserControlEvent.streamBegin, this.publishStreamId));
    this.sendOnStatus('status', 'NetStream.Publish.Start', `${this.publishName} is now published.`);
  }

  rejectPublish(code: PublishRejectCode, description: string): void {
    if (this.stateValue === 'closed') return;
    this.publishPending = false;
    this.sendOnStatus('error', code, description);
    this.stateValue = 'closed';
  }

  /**
   * Sends Enhanced RTMP v2's Reconnect Request (a NetConnection onStatus, so on message stream 0).
   * The caller decides whom to ask (peerCapsEx); the session keeps reading what the client
   * sends until it leaves, as the spec asks. False when there is no connection to ask yet
   * (before connect) or any more.
   */
  requestReconnect(request: ReconnectRequest = {}): boolean {
    if (!this.connectSeen || this.stateValue === 'closed') return false;
    this.sendMessage(ChunkStreamId.command, MessageType.commandAmf0, 0, encodeReconnectRequest(request));
    return true;
  }

  private sendMessage(chunkStreamId: number, typeId: number, streamId: number, payload: Uint8Array): void {
    this.handlers.send(this.writer.writeMessage(chunkStreamId, typeId, streamId, 0, payload));
  }

  private sendOnStatus(level: 'status' | 'error', code: string, description: string): void {
    this.sendMessage(
      ChunkStreamId.command,
      MessageType.commandAmf0,
      this.publishStreamId,
      encodeCommand('onStatus', 0, null, { level, code, description }),
    );
  }

  private acknowledgeIfDue(): void {
    // Acknowledge by the window the peer announced, else by ours (as nginx-rtmp does).
    const window = this.peerWindowAckSize > 0 ? this.peerWindowAckSize : SERVER_WINDOW_ACK_SIZE;
    if (this.received - this.lastAcknowledged < window) return;
    this.lastAcknowledged = this.received;
    this.sendMessage(ChunkStreamId.protocolControl, MessageType.acknowledgement, 0, u32Payload(this.received % 0x100000000));
  }

  private onMessage(typeId: number, streamId: number, timestamp: number, payload: Uint8Array): void {
    if (this.stateValue === 'closed') return;
    switch (typeId) {
      case MessageType.video:
        if (this.stateValue === 'publishing') this.handlers.onVideo(timestamp, payload);
        else this.droppedMediaMessages++;
        return;
      case MessageType.audio:
        if (this.stateValue === 'publishing') this.handlers.onAudio(timestamp, payload);
        else this.droppedMediaMessages++;
        return;
      case MessageType.commandAmf0:
      case MessageType.commandAmf3:
        this.onCommand(decodeCommand(typeId, payload), streamId);
        return;
      case MessageType.dataAmf0:
      case MessageType.dataAmf3:
        this.onData(decodeDataMessage(typeId, payload));
        return;
      case MessageType.userControl:
        this.onUserControl(payload);
        return;
      case MessageType.windowAckSize:
        if (payload.length < 4) throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `Window Acknowledgement Size payload of ${payload.length} bytes`);
        this.peerWindowAckSize = ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
        return;
      case MessageType.aggregate:
        this.onAggregate(timestamp, payload);
        return;
      default:
        // Acknowledgement, Set Peer Bandwidth, shared objects: nothing to do for a publisher.
        return;
    }
  }

  private onUserControl(payload: Uint8Array): void {
    if (payload.length < 2) throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `User Control payload of ${payload.length} bytes`);
    const event = (payload[0] << 8) | payload[1];
    if (event !== UserControlEvent.pingRequest) return;
    if (payload.length < 6) throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `Ping Request payload of ${payload.length} bytes`);
    const pingTimestamp = ((payload[2] << 24) | (payload[3] << 16) | (payload[4] << 8) | payload[5]) >>> 0;
    this.sendMessage(ChunkStreamId.protocolControl, MessageType.userControl, 0, userControlPayload(UserControlEvent.pingResponse, pingTimestamp));
  }

  private onCommand(command: RtmpCommand, messageStreamId: number): void {
    switch (command.name) {
      case 'connect':
        this.onConnect(command);
        return;
      case 'releaseStream':
        this.requireConnect(command.name);
        this.sendResult(command.transactionId, null);
        return;
      case 'FCPublish': {
        this.requireConnect(command.name);
        this.sendResult(command.transactionId, null);
        const name = typeof command.args[1] === 'string' ? command.args[1] : '';
        // nginx-rtmp answers FCPublish with onFCPublish; some encoders wait for it.
        this.sendMessage(
          ChunkStreamId.command,
          MessageType.commandAmf0,
          0,
          encodeCommand('onFCPublish', 0, null, { code: 'NetStream.Publish.Start', description: name }),
        );
        return;
      }
      case 'createStream':
        this.requireConnect(command.name);
        if (this.nextStreamId > 64) throw new NovaError('NOVA_ERR_RTMP_LIMIT', 'more than 64 createStream calls');
        this.sendResult(command.transactionId, null, this.nextStreamId++);
        return;
      case 'publish':
        this.onPublish(command, messageStreamId);
        return;
      case 'FCUnpublish':
      case 'deleteStream':
      case 'closeStream':
        this.onUnpublishCommand();
        return;
      default:
        this.ignoredCommands++;
        this.handlers.onIgnoredCommand?.(command.name);
    }
  }

  private requireConnect(name: string): void {
    if (!this.connectSeen) throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `${name} before connect`);
  }

  private sendResult(transactionId: number, ...args: Amf0Value[]): void {
    this.sendMessage(ChunkStreamId.command, MessageType.commandAmf0, 0, encodeCommand('_result', transactionId, ...args));
  }

  private onConnect(command: RtmpCommand): void {
    if (this.connectSeen) throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', 'second connect on one connection');
    const commandObject = command.args[0];
    if (commandObject === null || typeof commandObject !== 'object' || Array.isArray(commandObject) || commandObject instanceof Date) {
      throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `connect command object is ${describe(commandObject)}`);
    }
    this.connectSeen = true;
    const app = commandObject.app;
    const tcUrl = commandObject.tcUrl;
    const objectEncoding = commandObject.objectEncoding;
    this.app = typeof app === 'string' ? app : '';
    this.tcUrl = typeof tcUrl === 'string' ? tcUrl : '';
    this.capsEx = capsExOf(commandObject);
    this.sendMessage(ChunkStreamId.protocolControl, MessageType.windowAckSize, 0, u32Payload(SERVER_WINDOW_ACK_SIZE));
    this.sendMessage(ChunkStreamId.protocolControl, MessageType.setPeerBandwidth, 0, setPeerBandwidthPayload(SERVER_WINDOW_ACK_SIZE, 2));
    this.sendMessage(ChunkStreamId.protocolControl, MessageType.setChunkSize, 0, u32Payload(SERVER_CHUNK_SIZE));
    this.writer.setChunkSize(SERVER_CHUNK_SIZE);
    this.sendResult(
      command.transactionId,
      // capsEx: what we may use of Enhanced RTMP v2 (the spec asks servers to state it here)
      { fmsVer: 'FMS/3,0,1,123', capabilities: 31, capsEx: CapsExMask.reconnect },
      {
        level: 'status',
        code: 'NetConnection.Connect.Success',
        description: 'Connection succeeded.',
        objectEncoding: typeof objectEncoding === 'number' ? objectEncoding : 0,
      },
    );
  }

  private onPublish(command: RtmpCommand, messageStreamId: number): void {
    this.requireConnect(command.name);
    if (this.publishPending || this.stateValue === 'publishing') {
      throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', 'publish while already publishing');
    }
    const name = command.args[1];
    if (typeof name !== 'string') {
      throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `publish stream name is ${describe(name)}`);
    }
    this.publishPending = true;
    this.publishStreamId = messageStreamId;
    this.publishName = name;
    this.handlers.onPublishRequest(this.app, name, this.tcUrl);
  }

  private onUnpublishCommand(): void {
    if (this.publishPending) {
      // Gone before the key check answered: a later acceptPublish() does nothing.
      this.publishPending = false;
      return;
    }
    if (this.stateValue !== 'publishing') return;
    this.stateValue = 'connected';
    this.handlers.onUnpublish();
  }

  private onData(values: Amf0Value[]): void {
    let index = 0;
    if (values[0] === '@setDataFrame') index = 1;
    if (values[index] !== 'onMetaData') return;
    this.handlers.onMetadata(flattenMetadata(values[index + 1]));
  }

  /** Aggregate message: FLV tags back to back; sub-tag times are rebased on the message time. */
  private onAggregate(timestamp: number, payload: Uint8Array): void {
    if (this.stateValue !== 'publishing') {
      this.droppedMediaMessages++;
      return;
    }
    let pos = 0;
    let firstTagTimestamp = -1;
    while (pos < payload.length) {
      if (payload.length - pos < AGGREGATE_TAG_HEADER) {
        throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `aggregate message: truncated tag header at ${pos}`);
      }
      const tagType = payload[pos];
      const size = (payload[pos + 1] << 16) | (payload[pos + 2] << 8) | payload[pos + 3];
      const tagTimestamp = (((payload[pos + 7] << 24) | (payload[pos + 4] << 16) | (payload[pos + 5] << 8) | payload[pos + 6]) >>> 0);
      const bodyStart = pos + AGGREGATE_TAG_HEADER;
      const bodyEnd = bodyStart + size;
      if (bodyEnd + 4 > payload.length) {
        throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `aggregate message: tag of ${size} bytes overruns the message`);
      }
      if (firstTagTimestamp < 0) firstTagTimestamp = tagTimestamp;
      const absolute = (timestamp + tagTimestamp - firstTagTimestamp) >>> 0;
      const body = payload.subarray(bodyStart, bodyEnd);
      if (tagType === MessageType.video) this.handlers.onVideo(absolute, body);
      else if (tagType === MessageType.audio) this.handlers.onAudio(absolute, body);
      pos = bodyEnd + 4;
    }
  }
}

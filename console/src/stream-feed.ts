import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * A stream's WebSocket (/api/v1/streams/:id/ws, messages in
 * docs/schemas/ws-messages.schema.json) as page state: live or not, viewers,
 * and the last minutes of per-second samples for the charts. Reconnects after
 * a lost connection; a refusal (4401/4403: a private stream without a valid
 * viewer token, 4404: no such stream) is shown, not retried.
 */

export interface FeedSamples {
  /** epoch seconds */
  at: number[];
  bitrate: number[];
  viewers: number[];
}

export interface FeedState {
  connection: 'connecting' | 'open' | 'lost' | 'refused';
  /** why the server refused, when it did */
  refusal: string | null;
  live: boolean;
  /** ended: the reason from stream_ended */
  ended: string | null;
  interrupted: boolean;
  viewers: number | null;
  peak: number | null;
  ingressBitrate: number | null;
  fps: number | null;
  /** bumped on every stream_metrics: samples changed */
  version: number;
}

/** five minutes of seconds */
const MAX_SAMPLES = 300;
const PING_MS = 30_000;
const RETRY_MS = 3000;

type Message =
  | { type: 'snapshot'; live: boolean; viewers: number; peak: number; state: { status?: string } }
  | { type: 'stream_started' }
  | { type: 'stream_ended'; reason: string }
  | { type: 'stream_interrupted' }
  | { type: 'stream_resumed' }
  | { type: 'viewer_count_changed'; viewers: number; peak: number }
  | { type: 'stream_metrics'; ts: number; viewers: number; ingress_bitrate: number; fps: number }
  | { type: 'quality_changed' }
  | { type: 'pong' };

const INITIAL: FeedState = { connection: 'connecting', refusal: null, live: false, ended: null, interrupted: false, viewers: null, peak: null, ingressBitrate: null, fps: null, version: 0 };

export function useStreamFeed(url: string | null): { state: FeedState; samples: FeedSamples } {
  const [state, setState] = useState<FeedState>(INITIAL);
  const samples = useRef<FeedSamples>({ at: [], bitrate: [], viewers: [] });

  useEffect(() => {
    if (url === null) return;
    let socket: WebSocket | null = null;
    let ping: number | undefined;
    let retry: number | undefined;
    let closed = false;
    samples.current = { at: [], bitrate: [], viewers: [] };
    setState(INITIAL);

    const onMessage = (message: Message): void => {
      switch (message.type) {
        case 'snapshot':
          setState((s) => ({ ...s, live: message.live, viewers: message.viewers, peak: message.peak, ended: !message.live && message.state.status === 'ENDED' ? 'ended' : null }));
          break;
        case 'stream_started':
        case 'stream_resumed':
          setState((s) => ({ ...s, live: true, ended: null, interrupted: false }));
          break;
        case 'stream_interrupted':
          setState((s) => ({ ...s, interrupted: true }));
          break;
        case 'stream_ended':
          setState((s) => ({ ...s, live: false, ended: message.reason, ingressBitrate: null, fps: null }));
          break;
        case 'viewer_count_changed':
          setState((s) => ({ ...s, viewers: message.viewers, peak: message.peak }));
          break;
        case 'stream_metrics': {
          const series = samples.current;
          series.at.push(message.ts / 1000);
          series.bitrate.push(message.ingress_bitrate);
          series.viewers.push(message.viewers);
          if (series.at.length > MAX_SAMPLES) {
            series.at.shift();
            series.bitrate.shift();
            series.viewers.shift();
          }
          setState((s) => ({ ...s, live: true, viewers: message.viewers, ingressBitrate: message.ingress_bitrate, fps: message.fps, version: s.version + 1 }));
          break;
        }
        default:
          break;
      }
    };

    const connect = (): void => {
      socket = new WebSocket(url);
      socket.onopen = () => {
        setState((s) => ({ ...s, connection: 'open' }));
        ping = window.setInterval(() => socket?.send(JSON.stringify({ type: 'ping' })), PING_MS);
      };
      socket.onmessage = (event) => {
        try {
          onMessage(JSON.parse(String(event.data)) as Message);
        } catch {
          // a message this page cannot read changes nothing
        }
      };
      socket.onclose = (event) => {
        window.clearInterval(ping);
        if (closed) return;
        if (event.code === 4401 || event.code === 4403 || event.code === 4404) {
          setState((s) => ({ ...s, connection: 'refused', refusal: event.reason || `closed ${event.code}` }));
          return;
        }
        setState((s) => ({ ...s, connection: 'lost' }));
        retry = window.setTimeout(connect, RETRY_MS);
      };
    };
    connect();
    return () => {
      closed = true;
      window.clearInterval(ping);
      window.clearTimeout(retry);
      socket?.close(1000);
    };
  }, [url]);

  return { state, samples: samples.current };
}

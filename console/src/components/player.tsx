import Hls, { type Level } from 'hls.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { bitrate } from '../format.js';

/**
 * The stream's video through hls.js in low-latency mode (LL-HLS: parts and
 * blocking reloads), muted so that browsers let it start by itself, with a
 * quality menu over the ladder's renditions. A fatal error (the stream not
 * live yet, a network cut) restarts the player a few seconds later.
 */

const RESTART_MS = 3000;

function levelName(level: Level): string {
  const size = level.height ? `${level.height}p` : level.name || 'audio';
  return level.bitrate ? `${size} · ${bitrate(level.bitrate)}` : size;
}

export function Player({ src, title }: { src: string; title: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const hlsRef = useRef<Hls | null>(null);
  const [levels, setLevels] = useState<Level[]>([]);
  const [chosen, setChosen] = useState(-1);
  const [playing, setPlaying] = useState(-1);
  const [problem, setProblem] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const element = video.current;
    if (element === null) return;
    if (!Hls.isSupported()) {
      // Safari on iPhone has no MediaSource but plays HLS itself
      if (element.canPlayType('application/vnd.apple.mpegurl')) element.src = src;
      else setProblem('This browser cannot play HLS.');
      return;
    }
    const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30 });
    hlsRef.current = hls;
    let restart: number | undefined;
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
      setLevels(data.levels);
      setProblem(null);
      element.play().catch(() => {});
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => setPlaying(data.level));
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      setProblem(data.type === Hls.ErrorTypes.NETWORK_ERROR ? 'Waiting for the stream…' : `Playback error: ${data.details}`);
      hls.destroy();
      restart = window.setTimeout(() => setAttempt((n) => n + 1), RESTART_MS);
    });
    hls.loadSource(src);
    hls.attachMedia(element);
    return () => {
      window.clearTimeout(restart);
      hls.destroy();
      hlsRef.current = null;
    };
  }, [src, attempt]);

  const choose = (index: number): void => {
    setChosen(index);
    if (hlsRef.current !== null) hlsRef.current.currentLevel = index;
  };

  return (
    <div class="player">
      <video ref={video} controls muted autoplay playsInline aria-label={`Video: ${title}`} />
      <div class="player-bar">
        <label>
          Quality{' '}
          <select value={String(chosen)} onChange={(e) => choose(Number(e.currentTarget.value))} disabled={levels.length === 0}>
            <option value="-1">Auto</option>
            {levels.map((level, index) => (
              <option key={index} value={String(index)}>
                {levelName(level)}
              </option>
            ))}
          </select>
        </label>
        <span class="muted">{playing >= 0 && levels[playing] ? `playing ${levelName(levels[playing]!)}` : ''}</span>
      </div>
      {problem !== null && (
        <p class="notice" role="status">
          {problem}
        </p>
      )}
    </div>
  );
}

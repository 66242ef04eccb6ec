/** Minimal ISO BMFF reader for assertions: box tree, tfdt and trun contents. */

export interface Box {
  type: string;
  start: number;
  size: number;
  /** offset of the body (after header, and after sample-entry fields for containers that have them) */
  bodyStart: number;
  children: Box[];
}

const CONTAINERS: Record<string, number> = {
  moov: 0, trak: 0, mdia: 0, minf: 0, dinf: 0, stbl: 0, mvex: 0, moof: 0, traf: 0,
  stsd: 8, dref: 8, avc1: 78, mp4a: 28,
};

export function readBoxes(bytes: Uint8Array, start = 0, end = bytes.byteLength): Box[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const boxes: Box[] = [];
  let offset = start;
  while (offset + 8 <= end) {
    const size = view.getUint32(offset);
    const type = String.fromCharCode(bytes[offset + 4], bytes[offset + 5], bytes[offset + 6], bytes[offset + 7]);
    if (size < 8 || offset + size > end) throw new Error(`bad box ${type} size ${size} at ${offset}`);
    const skip = CONTAINERS[type];
    const bodyStart = offset + 8 + (skip ?? 0);
    const children = skip === undefined ? [] : readBoxes(bytes, bodyStart, offset + size);
    boxes.push({ type, start: offset, size, bodyStart, children });
    offset += size;
  }
  if (offset !== end) throw new Error(`trailing ${end - offset} bytes at ${offset}`);
  return boxes;
}

/** 'moov/trak/tkhd'-style paths of every box, depth first. */
export function boxPaths(boxes: Box[], prefix = ''): string[] {
  const paths: string[] = [];
  for (const box of boxes) {
    const path = prefix ? `${prefix}/${box.type}` : box.type;
    paths.push(path);
    paths.push(...boxPaths(box.children, path));
  }
  return paths;
}

export function findBox(boxes: Box[], path: string): Box | undefined {
  const [head, ...rest] = path.split('/');
  const box = boxes.find((b) => b.type === head);
  if (!box || rest.length === 0) return box;
  return findBox(box.children, rest.join('/'));
}

export interface TrunSample {
  duration: number;
  size: number;
  flags: number | undefined;
  compositionOffset: number | undefined;
}

export interface FragmentInfo {
  sequenceNumber: number;
  baseMediaDecodeTime: number;
  dataOffset: number;
  samples: TrunSample[];
  mdatPayload: Uint8Array;
}

/** Reads every moof+mdat pair of a run of fragments. */
export function readFragments(bytes: Uint8Array): FragmentInfo[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const boxes = readBoxes(bytes);
  const fragments: FragmentInfo[] = [];
  for (let i = 0; i < boxes.length; i++) {
    const moof = boxes[i];
    if (moof.type !== 'moof') continue;
    const mdat = boxes[i + 1];
    if (!mdat || mdat.type !== 'mdat') throw new Error('moof without mdat');
    const mfhd = findBox([moof], 'moof/mfhd')!;
    const tfdt = findBox([moof], 'moof/traf/tfdt')!;
    const trun = findBox([moof], 'moof/traf/trun')!;
    const tfdtVersion = bytes[tfdt.start + 8];
    const baseMediaDecodeTime = tfdtVersion === 1
      ? view.getUint32(tfdt.start + 12) * 0x1_0000_0000 + view.getUint32(tfdt.start + 16)
      : view.getUint32(tfdt.start + 12);
    const trunVersion = bytes[trun.start + 8];
    const flags = view.getUint32(trun.start + 8) & 0xffffff;
    const count = view.getUint32(trun.start + 12);
    let at = trun.start + 16;
    let dataOffset = 0;
    if (flags & 0x1) { dataOffset = view.getInt32(at); at += 4; }
    if (flags & 0x4) at += 4;
    const samples: TrunSample[] = [];
    for (let s = 0; s < count; s++) {
      const duration = flags & 0x100 ? view.getUint32(at) : 0; if (flags & 0x100) at += 4;
      const size = flags & 0x200 ? view.getUint32(at) : 0; if (flags & 0x200) at += 4;
      const sampleFlags = flags & 0x400 ? view.getUint32(at) : undefined; if (flags & 0x400) at += 4;
      let compositionOffset: number | undefined;
      if (flags & 0x800) { compositionOffset = trunVersion === 1 ? view.getInt32(at) : view.getUint32(at); at += 4; }
      samples.push({ duration, size, flags: sampleFlags, compositionOffset });
    }
    fragments.push({
      sequenceNumber: view.getUint32(mfhd.start + 12),
      baseMediaDecodeTime,
      dataOffset,
      samples,
      mdatPayload: bytes.subarray(mdat.start + 8, mdat.start + mdat.size),
    });
  }
  return fragments;
}

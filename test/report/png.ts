/**
 * A small PNG decoder (and, to test it, an encoder) with node:zlib: 8-bit truecolour (colour type
 * 2, RGB) and truecolour with alpha (6, RGBA), non-interlaced, every row filter (0 None, 1 Sub,
 * 2 Up, 3 Average, 4 Paeth). Enough to look at the screenshots headless Chromium writes.
 */
import { deflateSync, inflateSync } from 'node:zlib';

/** A decoded image: RGBA bytes, row-major. */
export interface Image {
  readonly width: number;
  readonly height: number;
  /** 4 bytes per pixel (alpha 255 for RGB images). */
  readonly rgba: Uint8Array;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of a chunk's type and data, as PNG stores it. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decode a PNG file; throws on anything it does not support or a corrupt file. */
export function decodePng(file: Uint8Array): Image {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file (bad signature)');
  let pos = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  const idat: Buffer[] = [];
  let ended = false;
  while (pos + 8 <= buf.length && !ended) {
    const length = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + length);
    if (data.length !== length || pos + 12 + length > buf.length) throw new Error(`truncated ${type} chunk`);
    const crc = buf.readUInt32BE(pos + 8 + length);
    if (crc !== crc32(buf.subarray(pos + 4, pos + 8 + length))) throw new Error(`bad CRC in ${type} chunk`);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const bitDepth = data[8];
      colorType = data[9] ?? -1;
      const interlace = data[12];
      if (bitDepth !== 8) throw new Error(`bit depth ${bitDepth} is not supported (8 only)`);
      if (colorType !== 2 && colorType !== 6) throw new Error(`colour type ${colorType} is not supported (2 RGB or 6 RGBA)`);
      if (interlace !== 0) throw new Error('interlaced PNGs are not supported');
    } else if (type === 'IDAT') idat.push(Buffer.from(data));
    else if (type === 'IEND') ended = true;
    pos += 12 + length;
  }
  if (colorType < 0) throw new Error('no IHDR chunk');
  if (!ended) throw new Error('no IEND chunk');
  const channels = colorType === 6 ? 4 : 3;
  const stride = width * channels;
  const raw = inflateSync(Buffer.concat(idat));
  if (raw.length !== height * (stride + 1)) throw new Error(`image data has ${raw.length} bytes, expected ${height * (stride + 1)}`);
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const row = y * stride;
    const prev = (y - 1) * stride;
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x] as number;
      const a = x >= channels ? (out[row + x - channels] as number) : 0;
      const b = y > 0 ? (out[prev + x] as number) : 0;
      const c = y > 0 && x >= channels ? (out[prev + x - channels] as number) : 0;
      let r: number;
      switch (filter) {
        case 0:
          r = v;
          break;
        case 1:
          r = v + a;
          break;
        case 2:
          r = v + b;
          break;
        case 3:
          r = v + ((a + b) >> 1);
          break;
        case 4:
          r = v + paeth(a, b, c);
          break;
        default:
          throw new Error(`row ${y} has unknown filter type ${String(filter)}`);
      }
      out[row + x] = r & 0xff;
    }
  }
  if (channels === 4) return { width, height, rgba: out };
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0, j = 0; i < out.length; i += 3, j += 4) {
    rgba[j] = out[i] as number;
    rgba[j + 1] = out[i + 1] as number;
    rgba[j + 2] = out[i + 2] as number;
    rgba[j + 3] = 255;
  }
  return { width, height, rgba };
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * Encode `pixels` (3 or 4 bytes per pixel) as a PNG, row `y` filtered with `filters[y % n]`
 * (default: cycle through all five), to test the decoder.
 */
export function encodePng(width: number, height: number, pixels: Uint8Array, channels: 3 | 4, filters: readonly number[] = [0, 1, 2, 3, 4]): Buffer {
  const stride = width * channels;
  const raw = Buffer.alloc(height * (stride + 1));
  const at = (x: number, y: number) => (x < 0 || y < 0 ? 0 : (pixels[y * stride + x] as number));
  for (let y = 0; y < height; y++) {
    const f = filters[y % filters.length] ?? 0;
    raw[y * (stride + 1)] = f;
    for (let x = 0; x < stride; x++) {
      const v = at(x, y);
      const a = at(x - channels, y);
      const b = at(x, y - 1);
      const c = at(x - channels, y - 1);
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : paeth(a, b, c);
      raw[y * (stride + 1) + 1 + x] = (v - pred) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = channels === 4 ? 6 : 2;
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

/** Share of pixels that are not (near) white, and the number of distinct colours (quantised to 4 bits per channel). */
export function inkStatistics(image: Image): { nonWhite: number; colors: number } {
  let ink = 0;
  const colors = new Set<number>();
  const n = image.width * image.height;
  for (let i = 0; i < n; i++) {
    const r = image.rgba[4 * i] as number;
    const g = image.rgba[4 * i + 1] as number;
    const b = image.rgba[4 * i + 2] as number;
    if (r < 245 || g < 245 || b < 245) ink++;
    colors.add(((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4));
  }
  return { nonWhite: n === 0 ? 0 : ink / n, colors: colors.size };
}

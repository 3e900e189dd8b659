/** The test PNG decoder (used on Chromium's screenshots) against its encoder, every filter type. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, decodePng, encodePng, inkStatistics } from './png.js';

describe('decodePng', () => {
  it('decodes RGB and RGBA images written with each row filter 0-4', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom(3 as const, 4 as const),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (width, height, channels, filters, seed) => {
          let s = seed;
          const pixels = Uint8Array.from({ length: width * height * channels }, () => {
            s = (s * 1103515245 + 12345) % 2147483648;
            return s & 0xff;
          });
          const image = decodePng(encodePng(width, height, pixels, channels, filters));
          expect([image.width, image.height]).toEqual([width, height]);
          for (let i = 0; i < width * height; i++) {
            for (let c = 0; c < 3; c++) expect(image.rgba[4 * i + c]).toBe(pixels[channels * i + c]);
            expect(image.rgba[4 * i + 3]).toBe(channels === 4 ? pixels[4 * i + 3] : 255);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses what it cannot read', () => {
    expect(() => decodePng(Buffer.from('GIF89a'))).toThrow(/signature/);
    const good = encodePng(2, 2, new Uint8Array(12), 3);
    const bad = Buffer.from(good);
    bad[bad.length - 20] = (bad[bad.length - 20] as number) ^ 0xff; // inside IDAT
    expect(() => decodePng(bad)).toThrow(/CRC|image data|incorrect|invalid/);
    // A grey image (colour type 0).
    const grey = Buffer.from(good);
    grey[8 + 8 + 9] = 0;
    const fixed = Buffer.concat([grey.subarray(0, 8 + 8 + 13), Buffer.alloc(4), grey.subarray(8 + 8 + 13 + 4)]);
    fixed.writeUInt32BE(crc32(fixed.subarray(12, 8 + 8 + 13)), 8 + 8 + 13);
    expect(() => decodePng(fixed)).toThrow(/colour type 0/);
  });

  it('inkStatistics counts non-white pixels and colours', () => {
    const px = new Uint8Array([255, 255, 255, 255, 255, 255, 0, 0, 0, 200, 30, 30]);
    const s = inkStatistics(decodePng(encodePng(2, 2, px, 3)));
    expect(s.nonWhite).toBe(0.5);
    expect(s.colors).toBe(3);
  });
});

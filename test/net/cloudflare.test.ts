import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUNDLED_RANGES_FILE, loadCloudflareRanges, parseCloudflareRanges } from '../../src/net/cloudflare.js';

/** Cloudflare's published ranges, as bundled in data/cloudflare-ranges.txt. */

describe('the bundled Cloudflare ranges', () => {
  const ranges = loadCloudflareRanges();

  it('loads every CIDR line of data/cloudflare-ranges.txt', () => {
    const lines = readFileSync(BUNDLED_RANGES_FILE, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean);
    expect(ranges.size).toBe(lines.length);
    expect(ranges.size).toBeGreaterThanOrEqual(20);
    expect(ranges.source).toBe('bundled');
  });

  it.each([
    // IPv4: inside, at the edges, just outside
    ['104.16.0.1', true],
    ['104.23.255.255', true],
    ['104.24.0.0', true],
    ['104.15.255.255', false],
    ['173.245.48.0', true],
    ['173.245.63.255', true],
    ['173.245.64.0', false],
    ['162.159.1.1', true],
    ['127.0.0.1', false],
    ['10.0.0.7', false],
    ['8.8.8.8', false],
    // IPv6
    ['2606:4700::6810:84e5', true],
    ['2400:cb00:2048:1::c629:d7a2', true],
    ['2a06:98c0::1', true],
    ['2606:4701::1', false],
    ['::1', false],
    ['2001:db8::1', false],
    // IPv4-mapped IPv6 is judged as the IPv4 address it carries
    ['::ffff:104.16.0.1', true],
    ['::ffff:127.0.0.1', false],
    // not an address at all
    ['cloud.gitlab.com', false],
    ['', false],
  ] as const)('%s → %s', (address, inside) => {
    expect(ranges.contains(address)).toBe(inside);
  });
});

describe('parseCloudflareRanges', () => {
  it('ignores comments and blank lines, keeps both families', () => {
    const ranges = parseCloudflareRanges('# header\n\n10.0.0.0/8  # private, for the test\n  2001:db8::/32\n', 'test');
    expect(ranges.size).toBe(2);
    expect(ranges.source).toBe('test');
    expect(ranges.contains('10.1.2.3')).toBe(true);
    expect(ranges.contains('2001:db8:1::1')).toBe(true);
    expect(ranges.contains('11.0.0.1')).toBe(false);
  });

  it('handles CRLF line ends', () => {
    const ranges = parseCloudflareRanges('10.0.0.0/8\r\n192.0.2.0/24\r\n', 'crlf');
    expect(ranges.size).toBe(2);
    expect(ranges.contains('192.0.2.9')).toBe(true);
  });

  it.each([
    ['a bad address', '10.0.0.0/8\n# ok so far\n300.1.1.0/24\n', 3, '300.1.1.0/24'],
    ['a missing prefix length', '10.0.0.0/8\n192.0.2.1\n', 2, '192.0.2.1'],
    ['a prefix too long', '2001:db8::/129\n', 1, '2001:db8::/129'],
    ['text', '10.0.0.0/8\n\n\nnot-a-range\n', 4, 'not-a-range'],
  ])('%s: the error names the source, the line number and the entry', (_name, text, line, entry) => {
    expect(() => parseCloudflareRanges(text, 'ranges.txt')).toThrow(`ranges.txt:${line}: "${entry}" is not a CIDR range`);
  });

  it('a file with no ranges is an error', () => {
    expect(() => parseCloudflareRanges('# nothing here\n\n', 'empty.txt')).toThrow('empty.txt: no CIDR ranges found');
  });
});

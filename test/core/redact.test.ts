import { describe, expect, it } from 'vitest';
import { joinCapped, labelValue, quote, scrub } from '../../src/core/redact.js';

describe('redact: text helpers', () => {
  it('scrubs known secrets, GitLab token shapes and Authorization values', () => {
    expect(scrub('a sentinel-admin-0123456789abcdef b', ['sentinel-admin-0123456789abcdef'])).toBe('a <redacted> b');
    expect(scrub('token glpat-AbCdEfGhIjKlMnOpQrSt here')).toBe('token <redacted> here');
    expect(scrub('Authorization: Bearer abcdefghijklmnop')).toBe('Authorization: Bearer <redacted>');
    expect(scrub('short', ['abc'])).toBe('short');
  });

  it('quotes on one line, cut to length', () => {
    expect(quote('a\n\n  b\tc')).toBe('a b c');
    expect(quote('x'.repeat(300), [], 10)).toBe(`${'x'.repeat(9)}…`);
    expect(joinCapped(['aaaa', 'bbbb'], '; ', 8)).toBe('aaaa; b…');
  });

  it('makes label values from open strings, bounded', () => {
    expect(labelValue('Ultimate', 32, 'unknown')).toBe('ultimate');
    expect(labelValue('Premium (trial) 🎉', 32, 'unknown')).toBe('premium_trial');
    expect(labelValue('', 32, 'unknown')).toBe('unknown');
    expect(labelValue('x'.repeat(100), 32, 'unknown')).toHaveLength(32);
  });
});

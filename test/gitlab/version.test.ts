import { describe, expect, it } from 'vitest';
import { atLeast, editionOf, parseVersion, revisionLabel, versionLabel } from '../../src/gitlab/version.js';

describe('parseVersion', () => {
  it.each([
    ['18.9.0-pre', { major: 18, minor: 9, patch: 0, suffix: 'pre' }],
    ['17.2.1-ee', { major: 17, minor: 2, patch: 1, suffix: 'ee' }],
    ['17.10.0', { major: 17, minor: 10, patch: 0, suffix: '' }],
    ['17.2', { major: 17, minor: 2, patch: 0, suffix: '' }],
    ['16.11.3-rc42', { major: 16, minor: 11, patch: 3, suffix: 'rc42' }],
    [' 18.0.0 ', { major: 18, minor: 0, patch: 0, suffix: '' }],
  ])('%s', (text, expected) => {
    expect(parseVersion(text)).toEqual(expected);
  });

  it.each(['', 'eighteen', '18', '18.x', '1.2.3.4.5', '18.9.0-<script>'])('rejects %j', (text) => {
    expect(parseVersion(text)).toBeUndefined();
  });
});

describe('atLeast', () => {
  it.each([
    ['17.10.0', '17.2', true],
    ['17.2.0', '17.2', true],
    ['17.1.9-ee', '17.2', false],
    ['18.9.0-pre', '18.9', true],
    ['18.9.0-pre', '18.9.1', false],
    ['16.11.3', '17.2', false],
  ])('%s ≥ %s is %s (numbers only; 17.10 > 17.2)', (version, minimum, expected) => {
    expect(atLeast(parseVersion(version)!, parseVersion(minimum)!)).toBe(expected);
  });
});

describe('labels', () => {
  it('edition from `enterprise`, else from the -ee suffix', () => {
    expect(editionOf('17.2.1-ee', undefined)).toBe('ee');
    expect(editionOf('17.2.1', undefined)).toBe('ce');
    expect(editionOf('17.2.1', true)).toBe('ee');
    expect(editionOf('17.2.1-ee', false)).toBe('ce');
  });

  it('keeps only numbers and known suffixes in the version label', () => {
    expect(versionLabel(parseVersion('18.9.0-pre')!)).toBe('18.9.0-pre');
    expect(versionLabel(parseVersion('17.2.1-EE')!)).toBe('17.2.1-ee');
    expect(versionLabel(parseVersion('17.2.1-custom-build.7')!)).toBe('17.2.1');
  });

  it('keeps a revision only when it is a git hash', () => {
    expect(revisionLabel('ceb07b24cb0')).toBe('ceb07b24cb0');
    expect(revisionLabel('CEB07B24CB0a1b2c3d4e5f')).toBe('ceb07b24cb0a1b2c');
    expect(revisionLabel('not a hash')).toBe('unknown');
    expect(revisionLabel(undefined)).toBe('unknown');
  });
});

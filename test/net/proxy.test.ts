import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { describeProxy, proxyFromEnv, shouldProxy } from '../../src/net/proxy.js';
import type { ProxySettings } from '../../src/net/options.js';

/** The proxy the environment asks for, and NO_PROXY, as curl / Go / GitLab's components read them. */

describe('proxyFromEnv', () => {
  it.each<{ name: string; env: Record<string, string>; url: string | undefined; noProxy?: string[] }>([
    { name: 'nothing set', env: { PATH: '/usr/bin' }, url: undefined },
    { name: 'HTTPS_PROXY', env: { HTTPS_PROXY: 'http://proxy.corp:3128' }, url: 'http://proxy.corp:3128/' },
    { name: 'https_proxy', env: { https_proxy: 'http://lower.corp:3128' }, url: 'http://lower.corp:3128/' },
    { name: 'lower case wins', env: { https_proxy: 'http://lower.corp:1', HTTPS_PROXY: 'http://upper.corp:2' }, url: 'http://lower.corp:1/' },
    { name: 'HTTP_PROXY as a fallback', env: { HTTP_PROXY: 'http://plain.corp:8080' }, url: 'http://plain.corp:8080/' },
    { name: 'HTTPS_PROXY before HTTP_PROXY', env: { HTTP_PROXY: 'http://plain.corp:8080', HTTPS_PROXY: 'http://tls.corp:3128' }, url: 'http://tls.corp:3128/' },
    { name: 'no scheme means http://', env: { HTTPS_PROXY: 'proxy.corp:3128' }, url: 'http://proxy.corp:3128/' },
    { name: 'an https:// proxy', env: { HTTPS_PROXY: 'https://secure.corp:443' }, url: 'https://secure.corp/' },
    { name: 'NO_PROXY, trimmed, empty entries dropped', env: { HTTPS_PROXY: 'http://p:1', NO_PROXY: ' gitlab.example.com, .corp ,,10.0.0.0/8 ' }, url: 'http://p:1/', noProxy: ['gitlab.example.com', '.corp', '10.0.0.0/8'] },
    { name: 'no_proxy wins over NO_PROXY', env: { HTTPS_PROXY: 'http://p:1', no_proxy: 'a.example', NO_PROXY: 'b.example' }, url: 'http://p:1/', noProxy: ['a.example'] },
    { name: 'an empty HTTPS_PROXY is no proxy', env: { HTTPS_PROXY: '' }, url: undefined },
  ])('$name', ({ env, url, noProxy }) => {
    const proxy = proxyFromEnv(env);
    expect(proxy?.url.href).toBe(url);
    if (proxy) expect(proxy.noProxy).toEqual(noProxy ?? []);
  });

  it.each([
    ['HTTPS_PROXY', 'http://svc:hunter2@[bad:3128', 'HTTPS_PROXY: not a valid proxy URL'],
    ['https_proxy', 'socks5://svc:hunter2@proxy.corp:1080', 'https_proxy: socks5:// proxies are not supported'],
  ])('a bad %s is a config error that names the variable, never the value', (variable, value, message) => {
    let caught: unknown;
    try {
      proxyFromEnv({ [variable]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).issues).toEqual([expect.stringContaining(message)]);
    expect(inspect(caught)).not.toContain('hunter2');
  });

  it('keeps credentials in the URL (for Proxy-Authorization) but never shows them', () => {
    const proxy = proxyFromEnv({ HTTPS_PROXY: 'http://svc%40corp:s3cr%3At@proxy.corp:3128' })!;
    expect(decodeURIComponent(proxy.url.username)).toBe('svc@corp');
    expect(decodeURIComponent(proxy.url.password)).toBe('s3cr:t');
    expect(describeProxy(proxy)).toBe('http://proxy.corp:3128');
  });
});

describe('shouldProxy (NO_PROXY matching)', () => {
  const proxy = (...noProxy: string[]): ProxySettings => ({ url: new URL('http://proxy.corp:3128'), noProxy });

  it('without a proxy, nothing is proxied', () => {
    expect(shouldProxy('cloud.gitlab.com', 443, undefined)).toBe(false);
  });

  it.each<[string, string, number, boolean]>([
    // [NO_PROXY entry, host, port, proxied?]
    ['', 'cloud.gitlab.com', 443, true],
    ['*', 'cloud.gitlab.com', 443, false],
    ['cloud.gitlab.com', 'cloud.gitlab.com', 443, false],
    ['CLOUD.GitLab.com', 'cloud.gitlab.COM', 443, false],
    ['gitlab.com', 'cloud.gitlab.com', 443, false],
    ['.gitlab.com', 'cloud.gitlab.com', 443, false],
    ['.gitlab.com', 'gitlab.com', 443, false],
    ['*.gitlab.com', 'cloud.gitlab.com', 443, false],
    ['lab.com', 'cloud.gitlab.com', 443, true],
    ['gitlab.com.evil', 'cloud.gitlab.com', 443, true],
    ['cloud.gitlab.com:443', 'cloud.gitlab.com', 443, false],
    ['cloud.gitlab.com:8443', 'cloud.gitlab.com', 443, true],
    ['10.0.0.0/8', '10.1.2.3', 443, false],
    ['10.0.0.0/8', '11.1.2.3', 443, true],
    ['10.0.0.0/8', 'ten.example', 443, true],
    ['127.0.0.1', '127.0.0.1', 5052, false],
    ['::1', '[::1]', 443, false],
    ['[::1]:443', '::1', 443, false],
    ['[::1]:443', '::1', 8443, true],
    ['fd00::/8', 'fd12::1', 443, false],
    ['fd00::/8', '10.0.0.1', 443, true],
  ])('NO_PROXY=%j, %s:%d → proxied %s', (entry, host, port, proxied) => {
    expect(shouldProxy(host, port, entry === '' ? proxy() : proxy(entry))).toBe(proxied);
  });

  it('any matching entry of several bypasses the proxy', () => {
    expect(shouldProxy('aigw.internal', 5052, proxy('gitlab.example.com', '.internal'))).toBe(false);
  });
});

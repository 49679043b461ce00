import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, LOOPBACK } from '../helpers/servers.js';
import { debianBinary, proxyDir, PUBLIC_HOST, runningAsRoot, startProxyProcess, type Backend, type ProxyProcess } from './helpers.js';

/** Debian's Apache httpd (package `apache2`) as the TLS-terminating reverse proxy in front of GitLab. */

export interface ApacheOptions {
  /** `Protocols h2 http/1.1` (otherwise Apache's default, `http/1.1` only, mod_http2 loaded all the same). */
  readonly http2: boolean;
  /** The WebSocket rules from GitLab's docs: `RewriteCond %{HTTP:Upgrade} =websocket [NC]` + `RewriteRule … wss://… [P,L]`. */
  readonly websocketRules: boolean;
  /**
   * The VirtualHost's `Timeout` in seconds (default 60): also how long the WebSocket tunnel of the
   * RewriteRule [P] may stay silent (a `ProxyTimeout` there was seen to have no effect on it).
   */
  readonly timeout?: number;
}

const MODULES = '/usr/lib/apache2/modules';
// Loaded by path: no a2enmod, nothing of /etc/apache2 is read.
const LOAD = [
  ['mpm_event_module', 'mod_mpm_event.so'],
  ['authz_core_module', 'mod_authz_core.so'],
  ['socache_shmcb_module', 'mod_socache_shmcb.so'],
  ['ssl_module', 'mod_ssl.so'],
  ['http2_module', 'mod_http2.so'],
  ['headers_module', 'mod_headers.so'],
  ['rewrite_module', 'mod_rewrite.so'],
  ['proxy_module', 'mod_proxy.so'],
  ['proxy_http_module', 'mod_proxy_http.so'],
  ['proxy_wstunnel_module', 'mod_proxy_wstunnel.so'],
] as const;

export interface ApachePaths {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly backendCaFile: string;
}

/** The whole httpd.conf; the VirtualHost is what docs/probes.md shows. */
export function apacheConf(paths: ApachePaths, port: number, backendPort: number, options: ApacheOptions): string {
  const { dir } = paths;
  const backend = `${LOOPBACK}:${backendPort}`;
  return `ServerRoot ${dir}
ServerName ${PUBLIC_HOST}
PidFile ${join(dir, 'httpd.pid')}
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
ErrorLog ${join(dir, 'error.log')}
LogLevel warn
LogFormat "%h \\"%r\\" %>s %{Upgrade}i" proxy
CustomLog ${join(dir, 'access.log')} proxy
${runningAsRoot() ? 'User nobody\nGroup nogroup\n' : ''}${LOAD.map(([name, file]) => `LoadModule ${name} ${MODULES}/${file}`).join('\n')}
SSLSessionCache shmcb:${join(dir, 'ssl_scache')}(512000)
ThreadsPerChild 16
MaxRequestWorkers 16
Listen ${LOOPBACK}:${port} https

<VirtualHost ${LOOPBACK}:${port}>
  ServerName ${PUBLIC_HOST}
  SSLEngine on
  SSLCertificateFile ${paths.certFile}
  SSLCertificateKeyFile ${paths.keyFile}${options.http2 ? '\n  Protocols h2 http/1.1' : ''}

  SSLProxyEngine on
  SSLProxyVerify require
  SSLProxyCACertificateFile ${paths.backendCaFile}
  SSLProxyCheckPeerName on
  ProxyPreserveHost On
  RequestHeader set X-Forwarded-Proto https${options.timeout === undefined ? '' : `
  Timeout ${options.timeout}`}
${
  options.websocketRules
    ? `
  RewriteEngine on
  RewriteCond %{HTTP:Upgrade} =websocket [NC]
  RewriteRule /(.*) wss://${backend}/$1 [P,L]
`
    : ''
}
  ProxyPass / https://${backend}/
  ProxyPassReverse / https://${backend}/
</VirtualHost>
`;
}

export async function startApache(backend: Backend, options: ApacheOptions): Promise<ProxyProcess> {
  const binary = debianBinary('apache2', 'apache2');
  const paths = proxyDir('apache2', backend);
  const port = await freePort();
  const config = join(paths.dir, 'httpd.conf');
  writeFileSync(config, apacheConf(paths, port, backend.backendPort, options));
  return startProxyProcess({
    name: 'apache2',
    binary,
    // -X: one process in the foreground, our child; -f: only this file, nothing of /etc/apache2.
    args: ['-X', '-f', config],
    dir: paths.dir,
    port,
    logFiles: [join(paths.dir, 'error.log')],
    accessLog: join(paths.dir, 'access.log'),
  });
}

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, LOOPBACK } from '../helpers/servers.js';
import { debianBinary, proxyDir, PUBLIC_HOST, runningAsRoot, startProxyProcess, type Backend, type ProxyProcess } from './helpers.js';

/** Debian's nginx (package `nginx`) as the TLS-terminating reverse proxy in front of GitLab. */

export interface NginxOptions {
  /** `listen … ssl http2;` (otherwise `listen … ssl;`: clients get HTTP/1.1 only). */
  readonly http2: boolean;
  /** `proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;` */
  readonly upgradeHeaders: boolean;
  /** `proxy_read_timeout` (default 60s): how long an upgraded connection may stay silent from GitLab's side. */
  readonly readTimeout?: string;
}

export interface NginxPaths {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly backendCaFile: string;
}

/** The whole nginx.conf; the `server` block is what docs/probes.md shows. */
export function nginxConf(paths: NginxPaths, port: number, backendPort: number, options: NginxOptions): string {
  const { dir } = paths;
  const temp = (name: string): string => join(dir, 'tmp', name);
  return `${runningAsRoot() ? 'user root;\n' : ''}pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 64; }
http {
  log_format proxy '$remote_addr "$request" $status $http_upgrade';
  access_log ${join(dir, 'access.log')} proxy;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};

  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
  }

  server {
    listen ${LOOPBACK}:${port} ssl${options.http2 ? ' http2' : ''};
    server_name ${PUBLIC_HOST};
    ssl_certificate ${paths.certFile};
    ssl_certificate_key ${paths.keyFile};

    location / {
      proxy_pass https://${LOOPBACK}:${backendPort};
      proxy_ssl_server_name on;
      proxy_ssl_name ${PUBLIC_HOST};
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate ${paths.backendCaFile};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto https;${options.readTimeout ? `
      proxy_read_timeout ${options.readTimeout};` : ''}${
        options.upgradeHeaders
          ? `
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;`
          : ''
      }
    }
  }
}
`;
}

export async function startNginx(backend: Backend, options: NginxOptions): Promise<ProxyProcess> {
  const binary = debianBinary('nginx', 'nginx');
  const paths = proxyDir('nginx', backend);
  mkdirSync(join(paths.dir, 'tmp'));
  const port = await freePort();
  const config = join(paths.dir, 'nginx.conf');
  writeFileSync(config, nginxConf(paths, port, backend.backendPort, options));
  const errorLog = join(paths.dir, 'error.log');
  return startProxyProcess({
    name: 'nginx',
    binary,
    // -e: the log nginx opens before it has read the config (Debian's default is /var/log/nginx).
    args: ['-p', paths.dir, '-c', config, '-e', errorLog, '-g', 'daemon off; master_process off;'],
    dir: paths.dir,
    port,
    logFiles: [errorLog],
    accessLog: join(paths.dir, 'access.log'),
  });
}

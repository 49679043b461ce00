import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor } from './proc.js';

export const BLACKBOX_BIN = '/usr/bin/prometheus-blackbox-exporter';

/** Blackbox's http prober phases and the names of ours they correspond to. */
export const BLACKBOX_PHASE_OF: Readonly<Record<string, string>> = {
  connect: 'connect',
  tls: 'tls',
  first_byte: 'processing',
  transfer: 'transfer',
  // The WebSocket handshake: processing ends with the 101's first byte; the body read (transfer)
  // ends when the target closes, right after it wrote the welcome frame.
  upgrade: 'processing',
  welcome: 'transfer',
};

export interface BlackboxResult {
  readonly success: boolean;
  /** probe_http_duration_seconds by phase (resolve, connect, tls, processing, transfer), in ms. */
  readonly phasesMs: Readonly<Record<string, number>>;
  readonly durationMs: number;
}

export interface Blackbox {
  readonly pid: number;
  readonly version: string;
  probe(target: string, module: string): Promise<BlackboxResult>;
  stop(): Promise<void>;
}

/**
 * blackbox_exporter on a loopback port with modules probing the bench's targets the way our
 * probes do: HEAD over HTTPS trusting the bench CA, the ActionCable upgrade, and gRPC health
 * over TLS. Started with an empty environment, so no proxy variable can change its path.
 */
export async function startBlackbox(dir: string, caFile: string, wsOrigin: string): Promise<Blackbox> {
  const tlsConfig = { ca_file: caFile };
  const config = {
    modules: {
      https_head: { prober: 'http', timeout: '10s', http: { method: 'HEAD', preferred_ip_protocol: 'ip4', tls_config: tlsConfig } },
      cable_upgrade: {
        prober: 'http',
        timeout: '10s',
        http: {
          method: 'GET',
          preferred_ip_protocol: 'ip4',
          valid_status_codes: [101],
          headers: {
            Connection: 'Upgrade',
            Upgrade: 'websocket',
            'Sec-WebSocket-Version': '13',
            'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
            'Sec-WebSocket-Protocol': 'actioncable-v1-json',
            Origin: wsOrigin,
          },
          tls_config: tlsConfig,
        },
      },
      grpc_tls: { prober: 'grpc', timeout: '10s', grpc: { tls: true, service: '', preferred_ip_protocol: 'ip4', tls_config: tlsConfig } },
    },
  };
  const configFile = join(dir, 'blackbox.yml');
  writeFileSync(configFile, stringify(config));
  const port = await freePort();
  const child: ChildProcess = spawn(BLACKBOX_BIN, [`--config.file=${configFile}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {},
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = `${stderr}${chunk.toString('utf8')}`.slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid === undefined) throw new Error(`cannot start ${BLACKBOX_BIN}`);
  // Keep-alive, like Prometheus: the cost compared is the probe's, not a TCP accept per scrape.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const get = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent, timeout: 20_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`blackbox ${path} timed out`)));
      req.end();
    });
  try {
    await waitFor('blackbox_exporter to listen', () => get('/-/healthy').then((r) => (r.status === 200 ? true : undefined), () => undefined), 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  const buildInfo = /^blackbox_exporter_build_info\{([^}]*)\}/m.exec((await get('/metrics')).body)?.[1] ?? '';
  const version = /(?:^|,)version="([^"]+)"/.exec(buildInfo)?.[1] ?? 'unknown';
  return {
    pid: child.pid,
    version,
    async probe(target, module) {
      const { body } = await get(`/probe?target=${encodeURIComponent(target)}&module=${module}`);
      const phasesMs: Record<string, number> = {};
      for (const match of body.matchAll(/^probe_http_duration_seconds\{phase="(\w+)"\} (\S+)$/gm)) phasesMs[match[1]!] = Number(match[2]) * 1000;
      const success = /^probe_success 1$/m.test(body);
      const duration = /^probe_duration_seconds (\S+)$/m.exec(body);
      return { success, phasesMs, durationMs: duration ? Number(duration[1]) * 1000 : Number.NaN };
    },
    async stop() {
      agent.destroy();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

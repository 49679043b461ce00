import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One alert of one webhook notification, as Alertmanager sent it. */
export interface Notified {
  /** The receiver's path: /pager or /ticket (the receivers of alertmanager.example.yml). */
  readonly receiver: string;
  readonly status: 'firing' | 'resolved';
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Date.now() when it arrived. */
  readonly at: number;
  /** Alertmanager's group of the notification: alerts in one group are one notification. */
  readonly groupKey: string;
}

export interface Webhook {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly received: readonly Notified[];
  close(): Promise<void>;
}

interface WebhookMessage {
  readonly groupKey?: string;
  readonly alerts?: readonly {
    readonly status?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  }[];
}

/** Alertmanager's webhook receiver: records every alert of every notification, answers 200. */
export async function startWebhook(): Promise<Webhook> {
  const received: Notified[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      try {
        const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookMessage;
        for (const a of message.alerts ?? []) {
          received.push({
            receiver: req.url ?? '',
            status: a.status === 'resolved' ? 'resolved' : 'firing',
            labels: a.labels ?? {},
            annotations: a.annotations ?? {},
            at,
            groupKey: message.groupKey ?? '',
          });
        }
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Whether `labels` has every label of `match` with the same value. */
export function hasLabels(labels: Readonly<Record<string, string>>, match: Readonly<Record<string, string>>): boolean {
  return Object.entries(match).every(([k, v]) => labels[k] === v);
}

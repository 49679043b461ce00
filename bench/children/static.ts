/**
 * The floor for the scrape figures: a bare node:http server answering every request with the
 * same bytes the exporter's /metrics returned, measured by the same wrk on the same CPU. What is
 * left above it is the exporter's rendering and framework; this much is Node and the kernel
 * moving the body.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveRequests } from '../lib/proc.js';

let server: Server | undefined;

serveRequests({
  async start({ body, contentType }) {
    const bytes = Buffer.from(String(body));
    server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': String(contentType), 'Content-Length': bytes.length });
      res.end(bytes);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics` };
  },
  async stop() {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    return true;
  },
});

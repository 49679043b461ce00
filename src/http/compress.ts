import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Request, Response } from 'express';

// On libuv's thread pool, not the event loop: a 12 MB exposition (200 instances) takes some 50 ms.
const gzipAsync = promisify(gzip);

/**
 * Whether the answer may be gzip-compressed, from the request's Accept-Encoding (RFC 9110 section
 * 12.5.3): `gzip` (or `x-gzip`, or `*` when gzip is not named) with a q-value above 0, and not
 * ranked below an explicit `identity`. No header means no compression, as client_golang does: a
 * client that sends none (curl without --compressed) gets plain text.
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let gzipQ: number | undefined;
  let anyQ: number | undefined;
  let identityQ: number | undefined;
  for (const part of header.split(',')) {
    const [coding = '', ...params] = part.split(';');
    const name = coding.trim().toLowerCase();
    const q = qValue(params);
    if (name === 'gzip' || name === 'x-gzip') gzipQ = Math.max(gzipQ ?? 0, q);
    else if (name === '*') anyQ = Math.max(anyQ ?? 0, q);
    else if (name === 'identity') identityQ = Math.max(identityQ ?? 0, q);
  }
  const q = gzipQ ?? anyQ ?? 0;
  return q > 0 && (identityQ === undefined || q >= identityQ);
}

/** The `q=` parameter, 1 when absent; a malformed one counts as 0 (identity is always safe). */
function qValue(params: readonly string[]): number {
  for (const param of params) {
    const [key = '', value = ''] = param.split('=');
    if (key.trim().toLowerCase() !== 'q') continue;
    const text = value.trim();
    return /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(text) ? Number(text) : 0;
  }
  return 1;
}

/**
 * Ends the response with `body`, gzip-compressed when the request allows it, with the length of
 * what is sent. `Vary: Accept-Encoding` either way, so that a cache keeps the two answers apart.
 * A HEAD request gets the same headers and no body (Node drops the writes).
 */
export async function sendBody(req: Request, res: Response, body: string | readonly Buffer[]): Promise<void> {
  res.vary('Accept-Encoding');
  const chunks = typeof body === 'string' ? [Buffer.from(body)] : body;
  if (!acceptsGzip(req.get('accept-encoding'))) {
    res.set('Content-Length', String(chunks.reduce((sum, chunk) => sum + chunk.length, 0)));
    // One writev for the few dozen chunks of /metrics, most of them cached families
    // (src/metrics/collected.ts): no 12 MB string to build and encode at 200 instances.
    res.cork();
    for (const chunk of chunks) res.write(chunk);
    res.uncork();
    res.end();
    return;
  }
  const zipped = await gzipAsync(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  res.set({ 'Content-Encoding': 'gzip', 'Content-Length': String(zipped.length) });
  res.end(zipped);
}

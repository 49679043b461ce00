import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A tiny UDP DNS server on 127.0.0.1 (port 0 by default) for the resolver's tests and the hanging-DNS
 * measurement: it parses the question by hand and answers from a table. Names in a `hang` zone
 * are never answered (a zone whose servers drop packets); names in an `answer` zone get their A
 * or AAAA records, NODATA when the type is missing, NXDOMAIN when the name is unknown; anything
 * else is REFUSED (a server that is not authoritative and does not recurse). Every question is
 * recorded, with the time it arrived, so a test can tell whether a lookup was retried or dropped.
 *
 * Not a general DNS server: one question per message, no EDNS, no TCP, no compression in
 * questions (resolvers never compress the question).
 */

export const TYPE_A = 1;
export const TYPE_AAAA = 28;

export interface DnsRecords {
  readonly a?: readonly string[];
  readonly aaaa?: readonly string[];
}

export interface DnsServerOptions {
  /** Zones (suffixes, lower case, no trailing dot) this server is authoritative for, and their names. */
  readonly zones?: Readonly<Record<string, Readonly<Record<string, DnsRecords>>>>;
  /** Zones whose questions are swallowed: never answered. */
  readonly hang?: readonly string[];
  /** Zones that answer SERVFAIL (a recursive resolver whose upstream timed out). */
  readonly servfail?: readonly string[];
  /** Default 0 (any); the hanging-DNS measurement needs 53 inside its own network namespace. */
  readonly port?: number;
}

export interface SeenQuestion {
  readonly name: string;
  readonly type: number;
  readonly at: number;
}

export interface TestDnsServer {
  /** `127.0.0.1:port`, for Resolver.setServers. */
  readonly address: string;
  readonly port: number;
  readonly questions: SeenQuestion[];
  /** Questions seen for names in or under `zone`. */
  questionsFor(zone: string): SeenQuestion[];
  close(): Promise<void>;
}

const RCODE_NOERROR = 0;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;
const RCODE_REFUSED = 5;

export async function startDnsServer(options: DnsServerOptions): Promise<TestDnsServer> {
  const socket: Socket = createSocket('udp4');
  const questions: SeenQuestion[] = [];
  socket.on('message', (message: Buffer, peer: RemoteInfo) => {
    const question = parseQuestion(message);
    if (!question) return;
    questions.push({ name: question.name, type: question.type, at: performance.now() });
    const reply = answer(options, question);
    if (reply) socket.send(reply, peer.port, peer.address);
  });
  socket.bind(options.port ?? 0, '127.0.0.1');
  await once(socket, 'listening');
  const port = socket.address().port;
  let closed = false;
  return {
    address: `127.0.0.1:${port}`,
    port,
    questions,
    questionsFor: (zone) => questions.filter((q) => inZone(q.name, zone)),
    close: async () => {
      if (closed) return;
      closed = true;
      const done = once(socket, 'close');
      socket.close();
      await done;
    },
  };
}

interface Question {
  readonly id: number;
  readonly flags: number;
  readonly name: string;
  readonly type: number;
  /** The question section, byte for byte, echoed in the answer. */
  readonly raw: Buffer;
}

function parseQuestion(message: Buffer): Question | undefined {
  if (message.length < 12 || message.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = message[offset];
    if (length === undefined || length > 63) return undefined;
    offset += 1;
    if (length === 0) break;
    if (offset + length > message.length) return undefined;
    labels.push(message.toString('latin1', offset, offset + length));
    offset += length;
  }
  if (offset + 4 > message.length) return undefined;
  const type = message.readUInt16BE(offset);
  return { id: message.readUInt16BE(0), flags: message.readUInt16BE(2), name: labels.join('.').toLowerCase(), type, raw: message.subarray(12, offset + 4) };
}

function inZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

function answer(options: DnsServerOptions, q: Question): Buffer | undefined {
  if ((options.hang ?? []).some((zone) => inZone(q.name, zone))) return undefined;
  if ((options.servfail ?? []).some((zone) => inZone(q.name, zone))) return reply(q, RCODE_SERVFAIL, []);
  for (const [zone, names] of Object.entries(options.zones ?? {})) {
    if (!inZone(q.name, zone)) continue;
    const records = names[q.name];
    if (!records) return reply(q, RCODE_NXDOMAIN, []);
    const rdata = q.type === TYPE_A ? (records.a ?? []).map(ipv4Bytes) : q.type === TYPE_AAAA ? (records.aaaa ?? []).map(ipv6Bytes) : [];
    return reply(q, RCODE_NOERROR, rdata);
  }
  return reply(q, RCODE_REFUSED, []);
}

function reply(q: Question, rcode: number, rdata: readonly Buffer[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, opcode 0, AA, RD copied from the question, RA, and the rcode.
  header.writeUInt16BE(0x8000 | 0x0400 | (q.flags & 0x0100) | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rdata.length, 6);
  const answers = rdata.map((data) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(q.type, 2);
    rr.writeUInt16BE(1, 4); // class IN
    rr.writeUInt32BE(60, 6); // TTL
    rr.writeUInt16BE(data.length, 10);
    return Buffer.concat([rr, data]);
  });
  return Buffer.concat([header, q.raw, ...answers]);
}

function ipv4Bytes(address: string): Buffer {
  if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${address}`);
  return Buffer.from(address.split('.').map(Number));
}

function ipv6Bytes(address: string): Buffer {
  if (!isIPv6(address)) throw new Error(`not an IPv6 address: ${address}`);
  const [head = '', tail = ''] = address.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = address.includes('::') ? groups(tail) : [];
  const middle = new Array<string>(8 - left.length - right.length).fill('0');
  const out = Buffer.alloc(16);
  [...left, ...middle, ...right].forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}

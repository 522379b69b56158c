// Issue 12 (a–c) over HTTP against a real `emailstats dev`: a deeply nested event costs one quarantined row;
// token names that could forge log lines or drive a terminal are refused; slow clients (slowloris) are cut
// with a 408 while everybody else is served. The dev server runs with small HTTP limits (set through the
// environment) so the timeouts play out in seconds.
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, runCli, startDev, type DevServer } from '../helpers/cli.js';
import { event, eventsProject, sql } from '../helpers/events-project.js';

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 1500;
const MAX_CONNECTIONS = 60;

let project: string;
let dev: DevServer;

beforeAll(async () => {
  project = eventsProject();
  dev = await startDev(project, ['--no-watch'], {
    EMAILSTATS_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    EMAILSTATS_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    EMAILSTATS_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
  });
}, 90_000);
afterAll(async () => {
  await dev?.stop();
  if (project) removeDir(project);
});

const port = () => Number(new URL(dev.url).port);
const auth = () => ({ authorization: `Bearer ${dev.token}` });
const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const nestedObjects = (depth: number) => '{"x":'.repeat(depth) + '1' + '}'.repeat(depth);
/** `kind` is a String column: a nested value there is stored as its JSON text. 5,000 levels of arrays: 10 KB. */
const deepEvent = (id: number, inner = nestedArrays(5000)) => `{"event_id":${id},"kind":${inner}}`;

async function postEvents(body: string) {
  const res = await fetch(`${dev.url}/v0/events?name=events&wait=true`, { method: 'POST', headers: auth(), body });
  return { status: res.status, body: (await res.json()) as { successful_rows?: number; quarantined_rows?: number; quarantine?: { line: number; error: string }[]; error?: string } };
}

describe('a. an event nested 5,000 levels deep', () => {
  it('is quarantined alone with its reason; the other lines of the body are stored (small and worker-sized bodies)', async () => {
    const fill = Array.from({ length: 120 }, (_, i) => JSON.stringify(event(1500 + i)));
    // Under 16 KB: converted in the request thread; then over it, with objects 100,000 deep: on a worker.
    for (const [first, inner, rest] of [[1000, nestedArrays(5000), [] as string[]], [1100, nestedObjects(100_000), fill]] as const) {
      const lines = [JSON.stringify(event(first + 1)), deepEvent(first + 2, inner), JSON.stringify(event(first + 3)), ...rest];
      const r = await postEvents(lines.join('\n'));
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
      expect(r.body).toMatchObject({ successful_rows: lines.length - 1, quarantined_rows: 1 });
      expect(r.body.quarantine).toEqual([{ line: 2, error: expect.stringMatching(/nested more than 1000 levels deep/) }]);
    }
    const stored = await sql<{ c: number }>(dev.url, dev.token, 'SELECT count() AS c FROM events WHERE event_id IN (1001, 1003, 1101, 1103)');
    expect(Number(stored[0].c)).toBe(4);
    const q = await sql<{ c: number }>(dev.url, dev.token, "SELECT count() AS c FROM events_quarantine WHERE has(c__error, 'JSON nested more than 1000 levels deep: flatten the event (nested objects and arrays count one level each)')");
    expect(Number(q[0].c)).toBe(2);
  });

  it('in a JSON array body: only that element is quarantined; alone in a single-object body: 400 naming the reason', async () => {
    const arr = await postEvents(`[${JSON.stringify(event(1201))},${deepEvent(1202)}]`);
    expect(arr.status).toBe(200);
    expect(arr.body).toMatchObject({ successful_rows: 1, quarantined_rows: 1, quarantine: [{ line: 2 }] });
    const single = await postEvents(deepEvent(1301));
    expect(single.status).toBe(400);
    expect(single.body.error).toMatch(/nested more than 1000 levels deep/);
    expect((await fetch(`${dev.url}/health`)).status).toBe(200);
  });
});

describe('b. token names', () => {
  const create = (name: string, extra = '&scope=ADMIN', body?: string) =>
    fetch(`${dev.url}/v0/tokens?${new URLSearchParams({ name })}${extra}`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body });

  it('refuses control and invisible characters with a 400 that says which characters are allowed', async () => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const jwtBody = JSON.stringify({ scopes: [{ type: 'DATASOURCES:READ', resource: 'events' }] });
    for (const [name, extra, body] of [
      ['x\ninjected log line', '&scope=ADMIN', undefined],
      ['x\r\nSet-Cookie: a=b', '&scope=ADMIN', undefined],
      ['bad\u001b[2Jname', '&scope=ADMIN', undefined],
      ['abc\u202Etxt.exe', '&scope=ADMIN', undefined],
      ['zero\u200Bwidth', '&scope=ADMIN', undefined],
      ['a/b', '&scope=ADMIN', undefined],
      ['jwt\nname', `&expiration_time=${exp}`, jwtBody],
    ] as const) {
      const res = await create(name, extra, body);
      const answer = (await res.json()) as { error: string };
      expect(res.status, `${JSON.stringify(name)}: ${answer.error}`).toBe(400);
      expect(answer.error).toMatch(/token names may contain letters .* digits .*spaces and _ - \. : @/);
      expect(answer.error).toMatch(/U\+[0-9A-F]{4}/);
      expect(answer.error).not.toMatch(/[\u0000-\u001f\u202e\u200b]/);
    }
    const list = (await (await fetch(`${dev.url}/v0/tokens`, { headers: auth() })).json()) as { tokens: { name: string }[] };
    expect(list.tokens.map((t) => t.name).filter((n) => /[^\p{L}\p{N}_\-.:@ ]/u.test(n))).toEqual([]);
  });

  it('accepts names in other scripts, with spaces, @ and dots', async () => {
    for (const name of ['reader_1', 'admin me@example.com', 'lecture-équipe.v2', '読み取り']) {
      const res = await create(name, '&scope=DATASOURCES:READ:events');
      expect(res.status, await res.clone().text()).toBe(200);
      expect(((await res.json()) as { name: string }).name).toBe(name);
    }
  });

  it('`emailstats token create` refuses such names before it calls the API', async () => {
    for (const args of [['static', 'x\ninjected', '--scope', 'ADMIN'], ['jwt', 'y\u001b]0;pwned\u0007', '--ttl', '1h', '--resource', 'events', '--scope', 'DATASOURCES:READ']]) {
      const r = await runCli(['token', 'create', ...args, '--project', project]);
      expect(r.exitCode, r.all).not.toBe(0);
      expect(r.all).toMatch(/U\+00(0A|1B) .*token names may contain letters/);
    }
  }, 60_000);
});

/** A raw connection that records what the server sends and when it closes. */
interface Probe {
  socket: Socket;
  received: string;
  closedAt?: number;
  closed: Promise<void>;
}

function probe(): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const socket = connect(port(), '127.0.0.1');
    const p = { socket, received: '' } as Probe;
    p.closed = new Promise((done) =>
      socket.on('close', () => {
        p.closedAt = Date.now();
        done();
      }),
    );
    socket.on('data', (d) => (p.received += d.toString()));
    socket.on('error', () => {}); // a reset is one way of being closed
    socket.once('connect', () => resolve(p));
    socket.once('error', reject);
  });
}

/** Writes `chunks` one every `everyMs` while the socket stays open. */
function trickle(p: Probe, chunks: () => string, everyMs: number): NodeJS.Timeout {
  const t = setInterval(() => {
    if (p.closedAt !== undefined || p.socket.destroyed) return clearInterval(t);
    p.socket.write(chunks());
  }, everyMs);
  return t;
}

async function timedGet(path: string): Promise<{ status: number; ms: number }> {
  const t0 = Date.now();
  const res = await fetch(`${dev.url}${path}`, { headers: auth() });
  await res.arrayBuffer();
  return { status: res.status, ms: Date.now() - t0 };
}

describe('c. slow clients', () => {
  it('closes trickling headers and bodies with a 408 within the timeouts while a normal request is answered promptly', async () => {
    const start = Date.now();
    const slowHeaders = await Promise.all(Array.from({ length: 10 }, probe));
    const slowBodies = await Promise.all(Array.from({ length: 10 }, probe));
    const timers: NodeJS.Timeout[] = [];
    for (const p of slowHeaders) {
      p.socket.write('POST /v0/events?name=events HTTP/1.1\r\nHost: localhost\r\n');
      timers.push(trickle(p, () => 'X-Slow: 1\r\n', 100));
    }
    for (const p of slowBodies) {
      p.socket.write(`POST /v0/events?name=events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${dev.token}\r\nContent-Length: 100000\r\n\r\n{"event_id":`);
      timers.push(trickle(p, () => '1', 100));
    }
    try {
      await new Promise((r) => setTimeout(r, 300));
      // Served while 20 connections trickle (the events table is read through /v0/sql: a real query).
      const during = await timedGet(`/v0/sql?q=${encodeURIComponent('SELECT count() AS c FROM events FORMAT JSON')}`);
      expect(during.status).toBe(200);
      expect(during.ms).toBeLessThan(REQUEST_TIMEOUT_MS);
      await Promise.race([Promise.all([...slowHeaders, ...slowBodies].map((p) => p.closed)), new Promise((r) => setTimeout(r, 15_000))]);
    } finally {
      timers.forEach(clearInterval);
    }
    for (const [group, limit] of [[slowHeaders, HEADERS_TIMEOUT_MS], [slowBodies, REQUEST_TIMEOUT_MS]] as const) {
      for (const p of group) {
        expect(p.closedAt, 'still open').toBeDefined();
        expect(p.received).toMatch(/^HTTP\/1\.1 408 /);
        const heldMs = p.closedAt! - start;
        expect(heldMs).toBeGreaterThanOrEqual(limit - 100);
        expect(heldMs).toBeLessThan(limit + 4000); // the deadline, the check interval and a loaded machine
      }
    }
    expect(slowBodies[0].received).toMatch(/request timeout: \d+ bytes of the request arrived in [\d.]+ s/);
    expect((await timedGet('/health')).status).toBe(200);
  }, 30_000);

  it('lets a large body that keeps arriving take longer than the base timeout', async () => {
    const lines = Array.from({ length: 6000 }, (_, i) => JSON.stringify(event(20_000 + i))).join('\n');
    const body = Buffer.from(lines);
    const parts = 12;
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${dev.url}/v0/events?name=events&wait=true`, { method: 'POST', headers: { ...auth(), 'content-length': body.length } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      let i = 0;
      const step = Math.ceil(body.length / parts);
      // ~2.4 s in all (beyond REQUEST_TIMEOUT_MS), at a rate far above the 64 KiB/s that earns time.
      const t = setInterval(() => {
        req.write(body.subarray(i * step, (i + 1) * step));
        if (++i === parts) {
          clearInterval(t);
          req.end();
        }
      }, 200);
    });
    expect(answer.status, answer.text).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({ successful_rows: 6000, quarantined_rows: 0 });
  }, 30_000);

  it('closes connections beyond --max-connections at once; the ones it keeps still get their 408', async () => {
    const probes = await Promise.all(Array.from({ length: MAX_CONNECTIONS + 10 }, probe));
    await Promise.race([Promise.all(probes.map((p) => p.closed)), new Promise((r) => setTimeout(r, 15_000))]);
    const dropped = probes.filter((p) => p.received === '');
    const timedOut = probes.filter((p) => /^HTTP\/1\.1 408 /.test(p.received));
    expect(probes.every((p) => p.closedAt !== undefined)).toBe(true);
    expect(dropped.length).toBeGreaterThanOrEqual(10);
    expect(timedOut.length).toBeGreaterThan(0);
    expect(dropped.length + timedOut.length).toBe(probes.length);
    expect((await timedGet('/health')).status).toBe(200);
  }, 30_000);
});

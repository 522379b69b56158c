// Time limits and a connection cap that keep the API answering while some clients are slow or hostile
// (slowloris: connections that trickle their headers or body a byte at a time to hold a socket forever).
import type { IncomingMessage, Server, ServerOptions as NodeServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { HttpError, sendError } from './http.js';

export interface HttpLimits {
  /** Time from connecting (or from the end of the previous request) to the last header line. */
  headersTimeoutMs: number;
  /** Time for the body to arrive, beyond the allowance its bytes earn at `minBodyBytesPerSecond`. */
  requestTimeoutMs: number;
  /** Each this many body bytes received extend the request's time by one second. */
  minBodyBytesPerSecond: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Connections beyond this are closed as they arrive. */
  maxConnections: number;
}

/**
 * Headers come in one write from any real client: 10 s leaves room for a slow network (Node's default, 60 s,
 * lets an idle socket sit for a minute). A body gets 30 s plus one second per 64 KiB received: a 10 MB Events
 * API batch may take 190 s over a 0.5 Mbit/s link, a multi-GB `/v0/datasources` upload as long as it keeps
 * arriving at 64 KiB/s (0.5 Mbit/s), while a trickle of a few bytes a second is cut after ~30 s. Node's own
 * requestTimeout (300 s, for the whole request whatever its size) is off: it would cut large uploads and
 * let trickles live five minutes. 1,000 connections stay well below the usual open-file limits.
 */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  minBodyBytesPerSecond: 64 * 1024,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1_000,
};

/** Options for `createServer`; Node checks its header deadline every `connectionsCheckingInterval`. */
export function nodeServerOptions(l: HttpLimits): NodeServerOptions {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: 0, // replaced by the byte-rate deadline of BodyDeadlines
    keepAliveTimeout: l.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkEveryMs(l.headersTimeoutMs),
  };
}

/** A deadline is noticed at most a quarter of it late (and at least every second). */
function checkEveryMs(timeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(timeoutMs / 4)));
}

interface Pending {
  raw: IncomingMessage;
  res: ServerResponse;
  /** Kept here: `raw.socket` is null once the response has finished. */
  socket: Socket;
  /** Time charged to the client starts here; moved on while unread bytes wait for us, not for the client. */
  start: number;
  lastCheck: number;
  bytesAtStart: number;
}

/**
 * Cuts requests whose body arrives too slowly with a 408 (connection closed), so a trickling client holds a
 * socket for about `requestTimeoutMs`. Checked by one sweep over the requests still receiving their body.
 */
export class BodyDeadlines {
  private readonly pending = new Set<Pending>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly limits: HttpLimits) {}

  /** Starts sweeping with the server, stops when it closes. */
  attach(server: Server): void {
    server.maxConnections = this.limits.maxConnections;
    server.on('listening', () => {
      clearInterval(this.timer);
      this.timer = setInterval(() => this.sweep(), checkEveryMs(this.limits.requestTimeoutMs)).unref();
    });
    server.on('close', () => clearInterval(this.timer));
  }

  /** Called for every request as its headers arrive. */
  track(raw: IncomingMessage, res: ServerResponse): void {
    if (raw.complete) return;
    const now = Date.now();
    const p: Pending = { raw, res, socket: raw.socket, start: now, lastCheck: now, bytesAtStart: raw.socket.bytesRead };
    this.pending.add(p);
    // Forgotten as soon as the body is in: kept until the next sweep, thousands of requests a second would stay
    // reachable for up to a second each, which showed as extra GC in a profile of single-event ingest.
    raw.once('end', () => this.pending.delete(p));
  }

  private sweep(): void {
    const now = Date.now();
    for (const p of this.pending) {
      const socket = p.socket;
      if (p.raw.complete || socket.destroyed) {
        this.pending.delete(p);
        continue;
      }
      // Body bytes waiting in our buffer: the route is the slow side (e.g. an upload streamed into ClickHouse).
      if (p.raw.readableLength > 0) p.start += now - p.lastCheck;
      p.lastCheck = now;
      const received = socket.bytesRead - p.bytesAtStart;
      const allowedMs = this.limits.requestTimeoutMs + (received / this.limits.minBodyBytesPerSecond) * 1000;
      if (now - p.start <= allowedMs) continue;
      this.pending.delete(p);
      this.timeOut(p, received, now - p.start);
    }
  }

  private timeOut(p: Pending, received: number, elapsedMs: number): void {
    const socket = p.socket;
    if (p.res.headersSent) return void socket.destroy();
    const l = this.limits;
    const msg =
      `request timeout: ${received} bytes of the request arrived in ${(elapsedMs / 1000).toFixed(1)} s; a request must arrive ` +
      `within ${l.requestTimeoutMs / 1000} s plus 1 s per ${Math.round(l.minBodyBytesPerSecond / 1024)} KiB of body` +
      ' (the server option --request-timeout-ms sets the first part)';
    p.res.once('finish', () => socket.destroy());
    setTimeout(() => socket.destroy(), 1000).unref(); // a client that does not read its answer either
    sendError(p.res, new HttpError(408, msg, {}, { connection: 'close' }));
  }
}

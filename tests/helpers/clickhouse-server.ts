// Starts a private Debian `clickhouse-server` (18.16 here) on free loopback ports for tests of the server
// path, with all its state in a temp folder. .ci/run installs the package; without it the tests fail and say so.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { ServerEngine } from '../../cli/src/engine/server.js';

export interface ClickHouseServer {
  url: string;
  httpPort: number;
  dir: string;
  stop(): Promise<void>;
  /** Stops the process but keeps its data, so `start()` can bring the same server back (outage tests). */
  pause(): Promise<void>;
  start(): Promise<void>;
}

const BINARY = '/usr/sbin/clickhouse-server';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `count` distinct free loopback ports, all held open at once while they are picked so none comes back twice (a
 * cluster writes every node's ports into every node's config before any server starts). Another process can still
 * take one before its server binds it: callers retry on a clash.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const srv = createServer();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => resolve(srv));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Resolves when the server answers; false when the process exited first (e.g. its port was taken). */
export async function waitForPing(url: string, timeoutMs: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const res = await fetch(`${url}/ping`);
      if (res.ok) return true;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`clickhouse-server did not answer on ${url} within ${timeoutMs} ms`);
}

export async function startClickHouseServer(): Promise<ClickHouseServer> {
  if (!existsSync(BINARY)) {
    throw new Error(`${BINARY} is missing: the server-path tests need Debian's clickhouse-server (apt-get install -y clickhouse-server); .ci/run installs it`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-chs-'));
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(path.join(dir, sub), { recursive: true });
  copyFileSync('/etc/clickhouse-server/users.xml', path.join(dir, 'users.xml'));
  const writeConfig = (httpPort: number, tcpPort: number): void =>
    writeFileSync(
      path.join(dir, 'config.xml'),
      `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/error.log</errorlog><console>0</console></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>536870912</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
`,
    );
  let child: ChildProcess | undefined;
  let httpPort = 0;
  const launch = async (): Promise<boolean> => {
    child = spawn(BINARY, [`--config-file=${dir}/config.xml`], { stdio: 'ignore', detached: false });
    return waitForPing(`http://127.0.0.1:${httpPort}`, 30_000, child);
  };
  // A free port can be taken by another test between finding it and the server binding it: then the server
  // exits at once, and it is started again on new ports.
  for (let attempt = 1; ; attempt++) {
    httpPort = await freePort();
    writeConfig(httpPort, await freePort());
    if (await launch()) break;
    if (attempt === 5) throw new Error(`clickhouse-server would not start in ${dir}; the end of its error.log:\n${errorLogTail(dir)}`);
  }
  const url = `http://127.0.0.1:${httpPort}`;
  /** Starts the server again on the same ports (after pause()), so its URL stays valid. */
  const start = async (): Promise<void> => {
    if (!(await launch())) throw new Error(`clickhouse-server did not come back on ${url}; the end of its error.log:\n${errorLogTail(dir)}`);
  };
  const pause = async (): Promise<void> => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    child = undefined;
  };
  return {
    url,
    httpPort,
    dir,
    start,
    pause,
    stop: async () => {
      await pause();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function clickhouseServerVersion(): string {
  return execFileSync(BINARY, ['--version']).toString().trim();
}

/** The last lines of the server's error.log, for failures: the run's temp folder is removed when tests end. */
export function errorLogTail(dir: string, lines = 20): string {
  try {
    return readFileSync(path.join(dir, 'error.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return `(no error.log: ${(e as Error).message})`;
  }
}

/**
 * A private server started before the tests of the enclosing file or describe block, with an engine on its
 * `default` database, both stopped after them.
 */
export function useClickHouseServer(): { readonly server: ClickHouseServer; readonly engine: ServerEngine } {
  const state = {} as { server: ClickHouseServer; engine: ServerEngine };
  beforeAll(async () => {
    state.server = await startClickHouseServer();
    state.engine = await ServerEngine.open({ url: state.server.url, database: 'default' });
  }, 60_000);
  afterAll(async () => {
    await state.engine?.close();
    await state.server?.stop();
  });
  return state;
}

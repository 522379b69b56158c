// Starts a private ZooKeeper (Debian's zookeeper 3.8 jars, as zookeeperd installs them) in standalone mode on a
// free loopback port, with its config, data and log in a temp folder. It neither uses nor needs the system
// service or port 2181. .ci/run installs the package; without it the tests fail and say so.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './clickhouse-server.js';

export interface ZooKeeper {
  host: '127.0.0.1';
  port: number;
  dir: string;
  running(): boolean;
  /** Kills the server and removes its folder. */
  stop(): Promise<void>;
}

const JAR = '/usr/share/java/zookeeper.jar';
// zookeeper.jar's manifest names its dependencies (jute, netty, slf4j-api...) but no slf4j binding: slf4j-simple
// makes it log warnings to stderr, which goes to zookeeper.log.
const LOG_BINDING = '/usr/share/java/slf4j-simple.jar';
/** ZooKeeper's tick: sessions may last 2 to 20 ticks, so a killed client's ephemeral nodes go within 20 s. */
export const ZK_TICK_MS = 1000;

/** Every child process the cluster helpers start; killed when the test process exits, whatever happened. */
const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Registers a child process to be killed with SIGKILL if this process exits (or is told to stop) first. */
export function killOnExit(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const c of children) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  process.once('exit', killAll);
  // A signal ends the process without 'exit': kill the children, then let the signal do what it would have.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    if (process.listenerCount(signal) > 0) continue;
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Whether ZooKeeper serves sessions: its `srvr` four-letter command names the mode only then. (`ruok` answers
 * `imok` as soon as the port listens, before the server runs: a client connecting then is dropped with "ZooKeeperServer
 * not running", which made a clickhouse-server 18.16 segfault in its first ON CLUSTER query.)
 */
function serving(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = connect(port, '127.0.0.1', () => socket.write('srvr'));
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on('data', (d) => (reply += d.toString()));
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(/^Mode: standalone$/m.test(reply)));
  });
}

export function zookeeperInstalled(): boolean {
  return existsSync(JAR);
}

export async function startZooKeeper(): Promise<ZooKeeper> {
  if (!zookeeperInstalled()) {
    throw new Error(`${JAR} is missing: the cluster tests need Debian's ZooKeeper (apt-get install -y zookeeperd); .ci/run installs it`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-zk-'));
  mkdirSync(path.join(dir, 'data'));
  const classpath = [JAR, ...(existsSync(LOG_BINDING) ? [LOG_BINDING] : [])].join(':');
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    writeFileSync(
      path.join(dir, 'zoo.cfg'),
      [
        `tickTime=${ZK_TICK_MS}`,
        `dataDir=${dir}/data`,
        `clientPort=${port}`,
        'clientPortAddress=127.0.0.1',
        'maxClientCnxns=0',
        // No Jetty admin server (it would take port 8080), no snapshots piling up, and `srvr` for the health check.
        'admin.enableServer=false',
        '4lw.commands.whitelist=ruok,srvr,mntr',
        'autopurge.purgeInterval=0',
        // The test's data is thrown away with the folder: no fsync per write.
        'forceSync=no',
        '',
      ].join('\n'),
    );
    const log = path.join(dir, 'zookeeper.log');
    const logFd = openSync(log, 'a');
    child = spawn(
      'java',
      [
        '-Xms16m',
        '-Xmx128m',
        '-XX:+UseSerialGC',
        '-XX:TieredStopAtLevel=1',
        '-Djava.awt.headless=true',
        '-Dzookeeper.jmx.log4j.disable=true',
        '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
        '-cp',
        classpath,
        'org.apache.zookeeper.server.ZooKeeperServerMain',
        path.join(dir, 'zoo.cfg'),
      ],
      { stdio: ['ignore', logFd, logFd] },
    );
    closeSync(logFd);
    killOnExit(child);
    const deadline = Date.now() + 30_000;
    let up = false;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if ((up = await serving(port))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (up) break;
    const exited = child.exitCode !== null || child.signalCode !== null;
    if (!exited) child.kill('SIGKILL');
    const tail = existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n').slice(-20).join('\n') : '(no log)';
    // A port taken between picking and binding makes ZooKeeper exit at once: try again on another one.
    if (!exited || attempt === 5) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`ZooKeeper did not start on 127.0.0.1:${port}${exited ? '' : ' within 30 s'}; the end of its log:\n${tail}`);
    }
  }
  const running = child;
  return {
    host: '127.0.0.1',
    port,
    dir,
    running: () => running.exitCode === null && running.signalCode === null,
    stop: async () => {
      if (running.exitCode === null && running.signalCode === null) {
        const exited = new Promise((r) => running.once('exit', r));
        running.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

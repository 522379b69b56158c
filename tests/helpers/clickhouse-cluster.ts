// Starts a real ClickHouse cluster on loopback for tests of the cluster path: a private ZooKeeper
// (tests/helpers/zookeeper.ts) and `shards x replicas` Debian clickhouse-server 18.16 processes, each with its own
// config.xml, users.xml and data in a temp folder, all on free 127.0.0.1 ports.
//
// Every node's config has:
//  - <remote_servers> with the cluster (default name `emailstats_test`): one <shard> per shard, each with
//    <internal_replication>true</internal_replication> and its replicas' 127.0.0.1:tcp_port, shards and replicas
//    in the order of `nodes`;
//  - a second cluster `<name>_nodes` with every node as a shard of its own (no replication): ClickHouse 18.16 refuses
//    `ALTER ... ON CLUSTER <name>` on a table that is not replicated (a Distributed table) because <name>'s shards
//    replicate, and accepts it ON CLUSTER <name>_nodes;
//  - <zookeeper> on the harness's ZooKeeper (session_timeout_ms ZK_SESSION_TIMEOUT_MS);
//  - <macros>: <shard> '01', '02'...; <replica> 's1r1', 's1r2', 's2r1'... (shard and replica numbers, so unique in
//    the whole cluster: a ZooKeeper path without {shard} replicates a table on every node); <cluster> the name;
//  - <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>;
//  - interserver_http_host 127.0.0.1 and an interserver_http_port of its own, so replicas fetch parts from each other.
// Small caches and background pools: the machine has 2 cores. A node whose distributed-DDL thread died (an 18.16
// bug, watchDdlWorkers) is restarted.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorLogTail, freePorts, waitForPing } from './clickhouse-server.js';
import { killOnExit, startZooKeeper, type ZooKeeper } from './zookeeper.js';

export interface ClickHouseClusterNode {
  /** http://127.0.0.1:PORT */
  url: string;
  httpPort: number;
  tcpPort: number;
  interserverPort: number;
  /** 1-based shard number; the {shard} macro is this number on two digits ('01'). */
  shard: number;
  /** 1-based replica number within the shard; the {replica} macro is `s${shard}r${replica}` ('s2r1'). */
  replica: number;
  /** The {shard} and {replica} macros of this node. */
  macros: { shard: string; replica: string };
  /** The node's folder: config.xml, users.xml, data/, server.log, error.log. */
  dir: string;
  /** kill -9; the data stays, and `start()` brings the same server back. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and waits until it answers. */
  start(): Promise<void>;
  /** Whether the server process is running. */
  running(): boolean;
}

export interface ClickHouseCluster {
  /** The name in <remote_servers>, for ON CLUSTER and Distributed(). */
  clusterName: string;
  /** `${clusterName}_nodes`: the same nodes, each its own shard, without replication (DDL on non-replicated tables). */
  nodesClusterName: string;
  shards: number;
  replicas: number;
  /** Shard-major: nodes[0] is shard 1 replica 1, nodes[1] shard 1 replica 2, nodes[replicas] shard 2 replica 1... */
  nodes: ClickHouseClusterNode[];
  zookeeper: ZooKeeper;
  /** The node of shard `shard`, replica `replica` (both 1-based). */
  node(shard: number, replica: number): ClickHouseClusterNode;
  /** For a failing test's message: whether each server and ZooKeeper runs, and the end of each server's error.log. */
  diagnostics(): string;
  /** Kills every server and ZooKeeper, and removes their folders. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  shards?: number;
  replicas?: number;
  /** The cluster's name; `emailstats_test` by default. */
  name?: string;
}

const BINARY = '/usr/sbin/clickhouse-server';
/** The ClickHouse servers' ZooKeeper session: a killed server's replica is seen inactive (is_active gone) after it. */
export const ZK_SESSION_TIMEOUT_MS = 10_000;
export const DDL_QUEUE_PATH = '/clickhouse/task_queue/ddl';

interface Ports {
  http: number;
  tcp: number;
  interserver: number;
}

function nodeConfig(o: { dir: string; ports: Ports; all: Ports[][]; shard: number; replica: number; name: string; zk: ZooKeeper }): string {
  const shards = o.all
    .map(
      (replicas) => `      <shard>
        <internal_replication>true</internal_replication>
${replicas.map((p) => `        <replica><host>127.0.0.1</host><port>${p.tcp}</port></replica>`).join('\n')}
      </shard>`,
    )
    .join('\n');
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${o.dir}/server.log</log><errorlog>${o.dir}/error.log</errorlog><console>0</console></logger>
  <http_port>${o.ports.http}</http_port>
  <tcp_port>${o.ports.tcp}</tcp_port>
  <interserver_http_port>${o.ports.interserver}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>127.0.0.1</listen_host>
  <path>${o.dir}/data/</path>
  <tmp_path>${o.dir}/tmp/</tmp_path>
  <user_files_path>${o.dir}/user_files/</user_files_path>
  <format_schema_path>${o.dir}/format_schemas/</format_schema_path>
  <users_config>${o.dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <remote_servers>
    <${o.name}>
${shards}
    </${o.name}>
    <${o.name}_nodes>
${o.all
  .flat()
  .map((p) => `      <shard><replica><host>127.0.0.1</host><port>${p.tcp}</port></replica></shard>`)
  .join('\n')}
    </${o.name}_nodes>
  </remote_servers>
  <zookeeper>
    <node><host>127.0.0.1</host><port>${o.zk.port}</port></node>
    <session_timeout_ms>${ZK_SESSION_TIMEOUT_MS}</session_timeout_ms>
  </zookeeper>
  <macros>
    <cluster>${o.name}</cluster>
    <shard>${String(o.shard).padStart(2, '0')}</shard>
    <replica>s${o.shard}r${o.replica}</replica>
  </macros>
  <distributed_ddl><path>${DDL_QUEUE_PATH}</path></distributed_ddl>
</yandex>
`;
}

// Our own users.xml: the default user without password from loopback, and a default profile with few background
// threads (merges and fetches, replication tasks) for the 2 cores.
const USERS_XML = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>2000000000</max_memory_usage>
      <max_threads>2</max_threads>
      <background_pool_size>4</background_pool_size>
      <background_schedule_pool_size>8</background_schedule_pool_size>
    </default>
    <readonly><readonly>1</readonly></readonly>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval>
    </default>
  </quotas>
</yandex>
`;

interface NodeState {
  shard: number;
  replica: number;
  dir: string;
  ports: Ports;
  child?: ChildProcess;
  /** A restart by watchDdlWorkers under way: a test's kill() or start() waits for it. */
  restarting?: Promise<void>;
  /** Killed by a test (or by stop()) and not started since: watchDdlWorkers leaves it down. */
  wantedDown?: boolean;
  /** How much of error.log watchDdlWorkers has read. */
  errorLogRead?: number;
}

const alive = (c: ChildProcess | undefined): c is ChildProcess => !!c && c.exitCode === null && c.signalCode === null;

async function killChild(c: ChildProcess | undefined): Promise<void> {
  if (!alive(c)) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL');
  await exited;
}

/** Starts the node's server; false when it exited before answering (a port taken), throws when it hangs. */
async function launch(n: NodeState): Promise<boolean> {
  n.child = spawn(BINARY, [`--config-file=${n.dir}/config.xml`], { stdio: 'ignore', detached: false });
  killOnExit(n.child);
  return waitForPing(`http://127.0.0.1:${n.ports.http}`, 60_000, n.child);
}

/** Waits until the server reads ZooKeeper (system.zookeeper), so the first ON CLUSTER query finds it connected. */
async function waitForZooKeeper(n: NodeState): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${n.ports.http}/`, {
        method: 'POST',
        body: "SELECT count() FROM system.zookeeper WHERE path = '/'",
        signal: AbortSignal.timeout(5_000),
      });
      last = (await res.text()).trim();
      if (res.ok && Number(last) > 0) return;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`clickhouse-server s${n.shard}r${n.replica} does not reach ZooKeeper: ${last}; the end of its error.log:\n${errorLogTail(n.dir)}`);
}

/** What error.log says when a node's distributed-DDL thread ends (DDLWorker::run logs it, then returns). */
const DDL_WORKER_DIED = /<Error> DDLWorker: Unexpected (ZooKeeper )?error/;

/** The part of a node's error.log written since the last call. */
function newErrorLog(n: NodeState): string {
  const file = path.join(n.dir, 'error.log');
  if (!existsSync(file)) return '';
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const from = Math.min(n.errorLogRead ?? 0, size);
    const buf = Buffer.alloc(size - from);
    readSync(fd, buf, 0, buf.length, from);
    n.errorLogRead = size;
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * ClickHouse 18.16 ends a node's distributed-DDL thread on an unexpected ZooKeeper error, for good: the node still
 * answers queries and inserts, but runs no ON CLUSTER statement any more, and each one waits for it until it times
 * out. Two replicas of a shard racing for one ALTER ... ON CLUSTER of a replicated table cause it (DDLWorker::
 * processTaskAlter: the loser checks that the winner has not executed it, the winner then does and unlocks, the
 * loser takes the lock, runs the ALTER again and fails to create the task's `executed` node, which exists). We saw
 * it twice in CI on a loaded machine. A restart brings the thread back and the node runs the queued statements, as
 * docs/deploy.md tells users to do; the test cluster does it by itself, once a second, and says so.
 */
function watchDdlWorkers(states: NodeState[]): () => void {
  for (const n of states) newErrorLog(n); // what start-up wrote is not news
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    void (async () => {
      for (const n of states) {
        if (n.restarting || n.wantedDown || !alive(n.child) || !DDL_WORKER_DIED.test(newErrorLog(n))) continue;
        console.log(`[cluster] node s${n.shard}r${n.replica}: its distributed-DDL thread ended (ClickHouse 18.16, see watchDdlWorkers); restarting it`);
        n.restarting = (async () => {
          await killChild(n.child);
          // A test may have killed it meanwhile (its kill() waits for this restart): it stays down then.
          if (n.wantedDown) return;
          if (!(await launch(n))) console.log(`[cluster] node s${n.shard}r${n.replica} did not come back; the end of its error.log:\n${errorLogTail(n.dir)}`);
        })().finally(() => (n.restarting = undefined));
        await n.restarting;
      }
    })().finally(() => (checking = false));
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Starts ZooKeeper and `shards x replicas` servers (in parallel), and resolves once every server answers its
 * /ping and reads ZooKeeper. Each server has its own ports, all picked before any config is written (every config lists every node);
 * when a server exits at start (a port taken meanwhile), all are started again on new ports, up to 5 times.
 */
export async function startClickHouseCluster(options: ClusterOptions = {}): Promise<ClickHouseCluster> {
  const shards = options.shards ?? 2;
  const replicas = options.replicas ?? 2;
  const name = options.name ?? 'emailstats_test';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`cluster name ${name} is not an XML element name`);
  if (!existsSync(BINARY)) {
    throw new Error(`${BINARY} is missing: the cluster tests need Debian's clickhouse-server (apt-get install -y clickhouse-server); .ci/run installs it`);
  }
  const zookeeper = await startZooKeeper();
  const states: NodeState[] = [];
  let stopWatching = (): void => undefined;
  const stopAll = async (): Promise<void> => {
    stopWatching();
    await Promise.all(
      states.map(async (n) => {
        n.wantedDown = true;
        await n.restarting;
        await killChild(n.child);
      }),
    );
    await zookeeper.stop();
    for (const n of states) rmSync(n.dir, { recursive: true, force: true });
  };
  try {
    for (let s = 1; s <= shards; s++) {
      for (let r = 1; r <= replicas; r++) {
        const dir = mkdtempSync(path.join(os.tmpdir(), `emailstats-chc-s${s}r${r}-`));
        for (const sub of ['data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(path.join(dir, sub), { recursive: true });
        writeFileSync(path.join(dir, 'users.xml'), USERS_XML);
        states.push({ shard: s, replica: r, dir, ports: { http: 0, tcp: 0, interserver: 0 } });
      }
    }
    for (let attempt = 1; ; attempt++) {
      const ports = await freePorts(states.length * 3);
      states.forEach((n, i) => (n.ports = { http: ports[3 * i], tcp: ports[3 * i + 1], interserver: ports[3 * i + 2] }));
      const all = Array.from({ length: shards }, (_, s) => states.slice(s * replicas, (s + 1) * replicas).map((n) => n.ports));
      for (const n of states) writeFileSync(path.join(n.dir, 'config.xml'), nodeConfig({ dir: n.dir, ports: n.ports, all, shard: n.shard, replica: n.replica, name, zk: zookeeper }));
      const up = await Promise.all(states.map(launch));
      if (up.every(Boolean)) break;
      await Promise.all(states.map((n) => killChild(n.child)));
      if (attempt === 5) {
        const failed = states.filter((_, i) => !up[i]);
        throw new Error(`clickhouse-server would not start for the cluster; the end of ${failed[0].dir}/error.log:\n${errorLogTail(failed[0].dir)}`);
      }
    }
    await Promise.all(states.map(waitForZooKeeper));
    stopWatching = watchDdlWorkers(states);
  } catch (e) {
    await stopAll();
    throw e;
  }

  const nodes = states.map((n): ClickHouseClusterNode => {
    const url = `http://127.0.0.1:${n.ports.http}`;
    return {
      url,
      httpPort: n.ports.http,
      tcpPort: n.ports.tcp,
      interserverPort: n.ports.interserver,
      shard: n.shard,
      replica: n.replica,
      macros: { shard: String(n.shard).padStart(2, '0'), replica: `s${n.shard}r${n.replica}` },
      dir: n.dir,
      kill: async () => {
        n.wantedDown = true;
        await n.restarting;
        await killChild(n.child);
      },
      start: async () => {
        n.wantedDown = false;
        await n.restarting;
        if (alive(n.child)) return;
        if (!(await launch(n))) throw new Error(`clickhouse-server did not come back on ${url}; the end of its error.log:\n${errorLogTail(n.dir)}`);
      },
      running: () => alive(n.child),
    };
  });
  return {
    clusterName: name,
    nodesClusterName: `${name}_nodes`,
    shards,
    replicas,
    nodes,
    zookeeper,
    node: (shard, replica) => {
      const n = nodes[(shard - 1) * replicas + (replica - 1)];
      if (!n || n.shard !== shard || n.replica !== replica) throw new Error(`no node for shard ${shard} replica ${replica}`);
      return n;
    },
    diagnostics: () =>
      [
        `ZooKeeper 127.0.0.1:${zookeeper.port}: ${zookeeper.running() ? 'running' : 'NOT RUNNING'}`,
        ...states.map((n) => {
          const c = n.child;
          const state = alive(c) ? 'running' : `NOT RUNNING (exit code ${n.child?.exitCode ?? '-'}, signal ${n.child?.signalCode ?? '-'})`;
          return `node s${n.shard}r${n.replica} http ${n.ports.http} tcp ${n.ports.tcp}: ${state}; the end of ${n.dir}/error.log:\n${errorLogTail(n.dir, 10)}`;
        }),
      ].join('\n'),
    stop: stopAll,
  };
}

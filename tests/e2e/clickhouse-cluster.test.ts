// Probes, on a real ClickHouse 18.16 cluster of 2 shards x 2 replicas (tests/helpers/clickhouse-cluster.ts), the
// cluster features `deploy --clickhouse-cluster` relies on: distributed DDL (ON CLUSTER), ReplicatedMergeTree
// with macros, Distributed tables, replicated insert deduplication, materialized views over shards, RENAME/ALTER/
// DROP on a cluster, insert quorums, and what happens when a node is killed with kill -9. Behaviour the deploy
// code depends on is asserted; timings and texts it should know about are printed as `[cluster-probe]` lines.
import { createClient } from '@clickhouse/client';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startClickHouseCluster, type ClickHouseCluster, type ClickHouseClusterNode } from '../helpers/clickhouse-cluster.js';
import { ServerEngine } from '../../cli/src/engine/server.js';
import { followMutations, mutationIds, mutationState, startedMutations, waitForMutations } from '../../cli/src/server/mutations.js';

const DB = 'probe';
const SUFFIX = Date.now().toString(36); // a unique ZooKeeper path suffix per run

interface Answer {
  status: number;
  text: string;
  ms: number;
}

/** POSTs `sql` to a node's HTTP interface with the given settings (URL parameters); never throws on a server error. */
async function http(node: ClickHouseClusterNode, sql: string, settings: Record<string, string | number> = {}): Promise<Answer> {
  const params = new URLSearchParams(Object.entries(settings).map(([k, v]): [string, string] => [k, String(v)]));
  const t = Date.now();
  const res = await fetch(`${node.url}/?${params}`, { method: 'POST', body: sql });
  return { status: res.status, text: (await res.text()).trim(), ms: Date.now() - t };
}

/** Like http(), but throws with the server's text when the statement fails. */
async function ok(node: ClickHouseClusterNode, sql: string, settings: Record<string, string | number> = {}): Promise<Answer> {
  const a = await http(node, sql, settings);
  if (a.status !== 200) throw new Error(`${sql}\n-> HTTP ${a.status}: ${a.text}`);
  return a;
}

async function rows<T = Record<string, unknown>>(node: ClickHouseClusterNode, sql: string, settings: Record<string, string | number> = {}): Promise<T[]> {
  const a = await ok(node, `${sql} FORMAT JSONEachRow`, { output_format_json_quote_64bit_integers: 0, ...settings });
  return a.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

/** The first column of the first row, as a number. */
async function num(node: ClickHouseClusterNode, sql: string, settings: Record<string, string | number> = {}): Promise<number> {
  return Number((await ok(node, sql, settings)).text.split('\t')[0]);
}

/** Polls until `check` holds; returns the milliseconds it took. */
async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const t = Date.now();
  for (;;) {
    try {
      if (await check()) return Date.now() - t;
    } catch {
      /* a node still starting: try again */
    }
    if (Date.now() - t > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const note = (label: string, value: unknown): void => console.log(`[cluster-probe] ${label}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
/** The first line of a server error, without the stack trace. */
const firstLine = (text: string): string => text.split('\n')[0].slice(0, 600);
const tsv = (xs: (string | number)[][]): string => xs.map((r) => r.join('\t')).join('\n') + '\n';

describe('ClickHouse 18.16 cluster (2 shards x 2 replicas): what deploy --clickhouse-cluster relies on', () => {
  let cluster: ClickHouseCluster;
  let C: string;
  let n: ClickHouseClusterNode[];
  const suiteStart = Date.now();

  beforeAll(async () => {
    const t = Date.now();
    cluster = await startClickHouseCluster({ shards: 2, replicas: 2 });
    note('cluster start (ZooKeeper + 4 servers, ms)', Date.now() - t);
    C = cluster.clusterName;
    n = cluster.nodes;
    try {
      await ok(n[0], `CREATE DATABASE ${DB} ON CLUSTER ${C}`);
    } catch (e) {
      console.log(cluster.diagnostics());
      throw e;
    }
  }, 120_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.log(cluster.diagnostics());
  });
  afterAll(async () => {
    await cluster?.stop();
    note('probe suite runtime (ms)', Date.now() - suiteStart);
  });

  it('12. system.clusters and system.macros describe the cluster; replicas per shard come from system.clusters', async () => {
    const defined = await rows<{ shard_num: number; replica_num: number; host_address: string; port: number; is_local: number }>(
      n[0],
      `SELECT shard_num, replica_num, host_address, port, is_local FROM system.clusters WHERE cluster = '${C}' ORDER BY shard_num, replica_num`,
    );
    expect(defined.map((r) => [r.shard_num, r.replica_num, r.host_address, r.port])).toEqual(n.map((x) => [x.shard, x.replica, '127.0.0.1', x.tcpPort]));
    // 18.16's is_local is per shard (the shard has a local replica), not per row: both rows of shard 1 say 1 on node 1.
    expect(defined.map((r) => r.is_local)).toEqual([1, 1, 0, 0]);
    const perShard = await rows<{ shard_num: number; replicas: number }>(n[0], `SELECT shard_num, count() AS replicas FROM system.clusters WHERE cluster = '${C}' GROUP BY shard_num ORDER BY shard_num`);
    expect(perShard).toEqual([{ shard_num: 1, replicas: 2 }, { shard_num: 2, replicas: 2 }]);
    const columns = await rows<{ name: string }>(n[0], `SELECT name FROM system.columns WHERE database = 'system' AND table = 'clusters'`);
    note('system.clusters columns', columns.map((c) => c.name).join(', '));
    for (const node of n) {
      const macros = await rows<{ macro: string; substitution: string }>(node, 'SELECT macro, substitution FROM system.macros ORDER BY macro');
      expect(Object.fromEntries(macros.map((m) => [m.macro, m.substitution]))).toEqual({ cluster: C, shard: node.macros.shard, replica: node.macros.replica });
    }
    note('system.macros on node s2r1', await rows(n[2], 'SELECT * FROM system.macros'));
    const settings = await rows<{ name: string; value: string }>(
      n[0],
      `SELECT name, value FROM system.settings WHERE name IN ('distributed_ddl_task_timeout', 'insert_distributed_sync', 'insert_quorum', 'insert_quorum_timeout', 'select_sequential_consistency', 'insert_deduplicate', 'prefer_localhost_replica', 'load_balancing', 'max_replica_delay_for_distributed_queries', 'insert_distributed_timeout') ORDER BY name`,
    );
    note('settings (defaults)', Object.fromEntries(settings.map((s) => [s.name, s.value])));
    note('replicated_deduplication_window', await rows(n[0], `SELECT name, value FROM system.merge_tree_settings WHERE name LIKE 'replicated_deduplication_window%'`));
  });

  it('11. ON CLUSTER DDL over HTTP answers one row per host (TSV; default_format honoured, FORMAT only outside CREATE); @clickhouse/client command() handles it', async () => {
    const raw = await ok(n[0], `CREATE TABLE ${DB}.fmt ON CLUSTER ${C} (x UInt8) ENGINE = Memory`);
    const lines = raw.text.split('\n');
    note('ON CLUSTER DDL body (TSV)', raw.text);
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => Number(l.split('\t')[1])))).toEqual(new Set(n.map((x) => x.tcpPort)));
    for (const l of lines) expect(l.split('\t').slice(2)).toEqual(expect.arrayContaining(['0', '']));
    // A FORMAT clause: honoured by DROP, RENAME and ALTER ... ON CLUSTER, ignored by CREATE (still TSV). The
    // default_format parameter is honoured by all.
    const dropJson = await ok(n[0], `DROP TABLE ${DB}.fmt ON CLUSTER ${C} FORMAT JSONEachRow`);
    expect(JSON.parse(dropJson.text.split('\n')[0]).status).toBe('0');
    const createTsv = await ok(n[0], `CREATE TABLE ${DB}.fmt ON CLUSTER ${C} (x UInt8) ENGINE = Memory FORMAT JSONEachRow`);
    expect(createTsv.text.startsWith('127.0.0.1\t')).toBe(true);
    note('ON CLUSTER DDL with FORMAT JSONEachRow: DROP answers / CREATE answers', [dropJson.text.split('\n')[0], createTsv.text.split('\n')[0]]);
    await ok(n[0], `DROP TABLE ${DB}.fmt ON CLUSTER ${C}`);
    const json = await ok(n[0], `CREATE TABLE ${DB}.fmt ON CLUSTER ${C} (x UInt8) ENGINE = Memory`, { default_format: 'JSONEachRow' });
    const parsed = json.text.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(parsed[0])).toEqual(['host', 'port', 'status', 'error', 'num_hosts_remaining', 'num_hosts_active']);
    note('ON CLUSTER DDL rows (default_format=JSONEachRow)', parsed);
    // An error on any host: HTTP 500 with the first failing host's error inside.
    const dup = await http(n[0], `CREATE TABLE ${DB}.fmt ON CLUSTER ${C} (x UInt8) ENGINE = Memory`);
    expect(dup.status).toBe(500);
    expect(dup.text).toMatch(/^Code: 57, e\.displayText\(\) = DB::Exception: There was an error on \[127\.0\.0\.1:\d+\]: Code: 57, e\.displayText\(\) = DB::Exception: Table probe\.fmt already exists\./);
    note('ON CLUSTER DDL failing on every host', dup.text);

    const client = createClient({ url: n[1].url, database: DB, log: { level: 0 as never } });
    try {
      await client.command({ query: `DROP TABLE ${DB}.fmt ON CLUSTER ${C}` });
      await client.command({ query: `CREATE TABLE fmt ON CLUSTER ${C} (x UInt8) ENGINE = Memory` });
      expect(await num(n[3], `SELECT count() FROM system.tables WHERE database = '${DB}' AND name = 'fmt'`)).toBe(1);
      const err = await client.command({ query: `CREATE TABLE ${DB}.fmt ON CLUSTER ${C} (x UInt8) ENGINE = Memory` }).then(
        () => undefined,
        (e: Error & { code?: string; type?: string }) => e,
      );
      expect(err?.message).toMatch(/There was an error on \[127\.0\.0\.1:\d+\]: Code: 57.*already exists/);
      note('@clickhouse/client command() error on ON CLUSTER DDL', { message: err?.message, code: err?.code, type: err?.type });
      // query() appends FORMAT JSONEachRow: JSON rows for DROP, TSV for CREATE (json() would throw on those).
      const viaQuery = await (await client.query({ query: `DROP TABLE ${DB}.fmt ON CLUSTER ${C}`, format: 'JSONEachRow' })).text();
      const createViaQuery = await (await client.query({ query: `CREATE TABLE ${DB}.fmt ON CLUSTER ${C} (x UInt8) ENGINE = Memory`, format: 'JSONEachRow' })).text();
      note('@clickhouse/client query(JSONEachRow) of DROP / CREATE ... ON CLUSTER returns', [viaQuery.split('\n')[0], createViaQuery.split('\n')[0]]);
      expect(createViaQuery.startsWith('127.0.0.1\t')).toBe(true);
      await client.command({ query: `DROP TABLE ${DB}.fmt ON CLUSTER ${C}` });
      const viaExec = await client.exec({ query: `CREATE TABLE ${DB}.fmt ON CLUSTER ${C} (x UInt8) ENGINE = Memory`, clickhouse_settings: { default_format: 'JSONEachRow' } as never });
      let body = '';
      for await (const chunk of viaExec.stream) body += String(chunk);
      expect(JSON.parse(body.split('\n')[0]).status).toBe('0'); // Int64, quoted in JSON by default
      note('@clickhouse/client exec() with default_format=JSONEachRow returns', body.split('\n')[0]);
    } finally {
      await client.close();
    }
    await ok(n[0], `DROP TABLE ${DB}.fmt ON CLUSTER ${C}`);
  });

  it('1. CREATE DATABASE/TABLE ON CLUSTER with ReplicatedMergeTree and macros: {shard}/{replica}, {shard}-{replica}, a path without {shard}', async () => {
    await ok(n[0], `CREATE DATABASE IF NOT EXISTS ${DB} ON CLUSTER ${C}`);
    for (const node of n) expect(await num(node, `SELECT count() FROM system.databases WHERE name = '${DB}'`)).toBe(1);
    const t = Date.now();
    await ok(
      n[0],
      `CREATE TABLE ${DB}.t_local ON CLUSTER ${C} (d Date, x UInt64, s String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/t_local/${SUFFIX}', '{replica}') PARTITION BY toYYYYMM(d) ORDER BY (x, d)`,
    );
    note('CREATE TABLE ReplicatedMergeTree ON CLUSTER (ms)', Date.now() - t);
    await ok(n[0], `CREATE TABLE ${DB}.t_combo ON CLUSTER ${C} (x UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/t_combo/${SUFFIX}', '{shard}-{replica}') ORDER BY x`);
    await ok(n[0], `CREATE TABLE ${DB}.meta ON CLUSTER ${C} (k String, v UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/${DB}/meta/${SUFFIX}', '{replica}') ORDER BY k`);
    for (const node of n) {
      const reps = await rows<{ table: string; zookeeper_path: string; replica_name: string; total_replicas: number }>(
        node,
        `SELECT table, zookeeper_path, replica_name, total_replicas FROM system.replicas WHERE database = '${DB}' ORDER BY table`,
      );
      expect(reps).toEqual([
        { table: 'meta', zookeeper_path: `/clickhouse/tables/all/${DB}/meta/${SUFFIX}`, replica_name: node.macros.replica, total_replicas: 4 },
        { table: 't_combo', zookeeper_path: `/clickhouse/tables/${node.macros.shard}/${DB}/t_combo/${SUFFIX}`, replica_name: `${node.macros.shard}-${node.macros.replica}`, total_replicas: 2 },
        { table: 't_local', zookeeper_path: `/clickhouse/tables/${node.macros.shard}/${DB}/t_local/${SUFFIX}`, replica_name: node.macros.replica, total_replicas: 2 },
      ]);
    }
    // The table without {shard} is one table replicated on all 4 nodes.
    await ok(n[2], `INSERT INTO ${DB}.meta VALUES ('live', 1)`);
    const ms = await waitFor(async () => (await Promise.all(n.map((x) => num(x, `SELECT count() FROM ${DB}.meta`)))).every((c) => c === 1), 10_000, 'meta on all 4 nodes');
    note('a row of the all-nodes replicated table on all 4 nodes after (ms)', ms);
    const engineFull = await rows<{ engine_full: string }>(n[1], `SELECT engine_full FROM system.tables WHERE database = '${DB}' AND name = 't_local'`);
    note('engine_full keeps the macros unexpanded', engineFull[0].engine_full);
    expect(engineFull[0].engine_full).toContain("'{replica}'");
  });

  it('2. Distributed ON CLUSTER, AS the local table or with a column list; sharding keys must be of an integer type', async () => {
    await ok(n[0], `CREATE TABLE ${DB}.t ON CLUSTER ${C} AS ${DB}.t_local ENGINE = Distributed(${C}, ${DB}, t_local, cityHash64(x))`);
    await ok(n[0], `CREATE TABLE ${DB}.t_cols ON CLUSTER ${C} (d Date, x UInt64, s String) ENGINE = Distributed(${C}, ${DB}, t_local, x)`);
    for (const node of n) {
      const engines = await rows<{ name: string; engine: string }>(node, `SELECT name, engine FROM system.tables WHERE database = '${DB}' AND name IN ('t', 't_cols') ORDER BY name`);
      expect(engines).toEqual([{ name: 't', engine: 'Distributed' }, { name: 't_cols', engine: 'Distributed' }]);
    }
    const keys = ['rand()', 'x', 'cityHash64(x)', 'cityHash64(s)', 'cityHash64(d, s)', 'sipHash64(s)', 'intHash64(x)', 'x % 2', 'd', 'toYYYYMM(d)', 's', 'x / 2', 'javaHash(s)'];
    const accepted: string[] = [];
    const rejected: Record<string, string> = {};
    for (const key of keys) {
      const a = await http(n[0], `CREATE TABLE ${DB}.t_key ON CLUSTER ${C} AS ${DB}.t_local ENGINE = Distributed(${C}, ${DB}, t_local, ${key})`);
      if (a.status === 200) accepted.push(key);
      else rejected[key] = firstLine(a.text).replace(/^.*?There was an error on \[[^\]]+\]: /, '');
      await ok(n[0], `DROP TABLE IF EXISTS ${DB}.t_key ON CLUSTER ${C}`);
    }
    note('sharding keys accepted', accepted);
    note('sharding keys rejected', rejected);
    expect(accepted).toEqual(['rand()', 'x', 'cityHash64(x)', 'cityHash64(s)', 'cityHash64(d, s)', 'sipHash64(s)', 'intHash64(x)', 'x % 2', 'd', 'toYYYYMM(d)']);
    expect(rejected.s).toMatch(/Sharding expression has type String, but should be one of integer type/);
    expect(rejected['x / 2']).toMatch(/Sharding expression has type Float64, but should be one of integer type/);
    expect(rejected['javaHash(s)']).toMatch(/Unknown function javaHash/);
  });

  it('3. unqualified names in ON CLUSTER DDL: the created table goes to the HTTP `database`, a view\'s FROM and TO to `default`', async () => {
    await ok(n[0], `CREATE TABLE unq ON CLUSTER ${C} (x UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/unq/${SUFFIX}', '{replica}') ORDER BY x`, { database: DB });
    for (const node of n) {
      expect(await rows(node, `SELECT database FROM system.tables WHERE name = 'unq'`)).toEqual([{ database: DB }]);
    }
    // ALTER, RENAME and DROP without a database also act in the HTTP `database` on every node.
    await ok(n[0], `ALTER TABLE unq ON CLUSTER ${C} ADD COLUMN y UInt8`, { database: DB });
    await ok(n[0], `RENAME TABLE unq TO unq2 ON CLUSTER ${C}`, { database: DB });
    for (const node of n) {
      expect(await rows(node, `SELECT database, table FROM system.columns WHERE name = 'y' AND table LIKE 'unq%'`)).toEqual([{ database: DB, table: 'unq2' }]);
    }
    await ok(n[0], `DROP TABLE unq2 ON CLUSTER ${C}`, { database: DB });
    for (const node of n) expect(await num(node, `SELECT count() FROM system.tables WHERE name LIKE 'unq%'`)).toBe(0);

    // CREATE TABLE ... AS <unqualified> reads the table in `default`.
    const asUnq = await http(n[0], `CREATE TABLE dist_unq ON CLUSTER ${C} AS t_local ENGINE = Distributed(${C}, ${DB}, t_local, x)`, { database: DB });
    expect(asUnq.status).not.toBe(200);
    expect(asUnq.text).toMatch(/Table default\.t_local doesn't exist/);
    note('CREATE ... ON CLUSTER AS <unqualified>', firstLine(asUnq.text));

    await ok(n[0], `CREATE TABLE ${DB}.src ON CLUSTER ${C} (x UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/src/${SUFFIX}', '{replica}') ORDER BY x`);
    await ok(n[0], `CREATE TABLE ${DB}.tgt ON CLUSTER ${C} (x UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/tgt/${SUFFIX}', '{replica}') ORDER BY x`);
    // The view's SELECT is not qualified: every node (the one that got the query too) looks for default.src.
    const fromUnq = await http(n[0], `CREATE MATERIALIZED VIEW mv ON CLUSTER ${C} TO ${DB}.tgt AS SELECT x * 10 AS x FROM src`, { database: DB });
    expect(fromUnq.status).not.toBe(200);
    expect(fromUnq.text).toMatch(/Table default\.src doesn't exist/);
    note('MATERIALIZED VIEW ON CLUSTER ... FROM <unqualified>', firstLine(fromUnq.text));
    for (const node of n) expect(await num(node, `SELECT count() FROM system.tables WHERE name = 'mv'`)).toBe(0);
    // TO <unqualified>: the view is created (in the HTTP database) but writes to default.tgt, so inserts into src fail.
    await ok(n[0], `CREATE MATERIALIZED VIEW mv ON CLUSTER ${C} TO tgt AS SELECT x * 10 AS x FROM ${DB}.src`, { database: DB });
    const created = await rows<{ database: string; create_table_query: string }>(n[3], `SELECT database, create_table_query FROM system.tables WHERE name = 'mv'`);
    expect(created[0].database).toBe(DB);
    expect(created[0].create_table_query).toContain('TO default.tgt');
    note('MATERIALIZED VIEW ON CLUSTER ... TO <unqualified> is stored as', created[0].create_table_query);
    const insert = await http(n[3], `INSERT INTO ${DB}.src VALUES (1)`);
    expect(insert.text).toMatch(/Table default\.tgt doesn't exist/);
    note('insert into the source of that view', firstLine(insert.text));
    await ok(n[0], `DROP TABLE ${DB}.mv ON CLUSTER ${C}`);
    // Fully qualified, it works on every node.
    await ok(n[0], `CREATE MATERIALIZED VIEW ${DB}.mv ON CLUSTER ${C} TO ${DB}.tgt AS SELECT x * 10 AS x FROM ${DB}.src`);
    await ok(n[3], `INSERT INTO ${DB}.src VALUES (2)`);
    expect(await num(n[3], `SELECT sum(x) FROM ${DB}.tgt`)).toBe(20);
  });

  it('4. an insert into the Distributed table with insert_distributed_sync=1 lands on both shards; replicas follow shortly after', async () => {
    await ok(n[0], `CREATE TABLE ${DB}.ev_local ON CLUSTER ${C} (x UInt64, s String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/ev_local/${SUFFIX}', '{replica}') ORDER BY x`);
    await ok(n[0], `CREATE TABLE ${DB}.ev ON CLUSTER ${C} AS ${DB}.ev_local ENGINE = Distributed(${C}, ${DB}, ev_local, cityHash64(x))`);
    const local = (): Promise<number[]> => Promise.all(n.map((x) => num(x, `SELECT count() FROM ${DB}.ev_local`)));
    const dist = (): Promise<number[]> => Promise.all(n.map((x) => num(x, `SELECT count() FROM ${DB}.ev`)));
    let total = 0;
    const immediate = { rounds: 8, allNodesComplete: 0, perNodeComplete: [0, 0, 0, 0], lagMs: [] as number[], insertMs: [] as number[] };
    for (let round = 0; round < immediate.rounds; round++) {
      const batch = Array.from({ length: 500 }, (_, i) => [total + i, `r${round}`]);
      total += batch.length;
      const a = await ok(n[round % 4], `INSERT INTO ${DB}.ev FORMAT TabSeparated\n${tsv(batch)}`, { insert_distributed_sync: 1 });
      immediate.insertMs.push(a.ms);
      // Right after the insert returns: does every node's Distributed table see every row?
      const seen = await dist();
      if (seen.every((c) => c === total)) immediate.allNodesComplete++;
      seen.forEach((c, i) => (immediate.perNodeComplete[i] += c === total ? 1 : 0));
      immediate.lagMs.push(
        await waitFor(async () => {
          const c = await local();
          return c[0] === c[1] && c[2] === c[3] && c[0] + c[2] === total;
        }, 15_000, 'both replicas of each shard'),
      );
    }
    note('Distributed sync insert: 8 inserts of 500 rows (ms each)', immediate.insertMs);
    note('reads through the Distributed table complete right after the insert returned: rounds with all 4 nodes complete; per node (inserts rotate over nodes)', { all: `${immediate.allNodesComplete} of ${immediate.rounds}`, perNode: immediate.perNodeComplete });
    note('replication lag until both replicas of both shards hold the rows (ms per round)', immediate.lagMs);
    const c = await local();
    expect(c[0]).toBeGreaterThan(0);
    expect(c[2]).toBeGreaterThan(0);
    expect(c[0] + c[2]).toBe(total);
    expect(await dist()).toEqual([total, total, total, total]);
    // With insert_quorum=2 (= replicas per shard) the insert answers once both replicas of each shard have the rows.
    const quorumMs: number[] = [];
    for (let round = 0; round < 3; round++) {
      const batch = Array.from({ length: 500 }, (_, i) => [total + i, `q${round}`]);
      total += batch.length;
      quorumMs.push((await ok(n[1], `INSERT INTO ${DB}.ev FORMAT TabSeparated\n${tsv(batch)}`, { insert_distributed_sync: 1, insert_quorum: 2 })).ms);
      const now = await local();
      expect(now[0] === now[1] && now[2] === now[3] && now[0] + now[2] === total, `replicas right after a quorum insert: ${now}`).toBe(true);
      expect(await dist()).toEqual([total, total, total, total]);
    }
    note('Distributed sync insert with insert_quorum=2: every replica has the rows when it returns; insert ms', quorumMs);
  });

  it('5. a retried identical insert through the Distributed table is deduplicated with a deterministic sharding key, duplicated with rand()', async () => {
    await ok(n[0], `CREATE TABLE ${DB}.dd_local ON CLUSTER ${C} (x UInt64, s String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/dd_local/${SUFFIX}', '{replica}') ORDER BY x`);
    await ok(n[0], `CREATE TABLE ${DB}.dd ON CLUSTER ${C} AS ${DB}.dd_local ENGINE = Distributed(${C}, ${DB}, dd_local, cityHash64(x))`);
    await ok(n[0], `CREATE TABLE ${DB}.dd_rand ON CLUSTER ${C} AS ${DB}.dd_local ENGINE = Distributed(${C}, ${DB}, dd_local, rand())`);
    const batch = Array.from({ length: 200 }, (_, i) => [i, `v${i}`]);
    // Once both replicas of each shard hold the same rows: the rows in the table.
    const count = async (): Promise<number> => {
      let c: number[] = [];
      await waitFor(async () => {
        c = await Promise.all(n.map((x) => num(x, `SELECT count() FROM ${DB}.dd_local`)));
        return c[0] === c[1] && c[2] === c[3];
      }, 15_000, 'replicas to agree');
      return c[0] + c[2];
    };
    const insert = (node: ClickHouseClusterNode, table: string, body: (string | number)[][]) =>
      ok(node, `INSERT INTO ${DB}.${table} FORMAT TabSeparated\n${tsv(body)}`, { insert_distributed_sync: 1 });
    await insert(n[0], 'dd', batch);
    expect(await count()).toBe(200);
    await insert(n[0], 'dd', batch); // the retry
    expect(await count()).toBe(200);
    await insert(n[2], 'dd', batch); // the retry sent to another node
    const viaOtherNode = await count();
    expect(viaOtherNode).toBe(200);
    // The same rows in another order: a part is sorted by its ORDER BY key before it is hashed, so this is a retry too.
    await insert(n[0], 'dd', [...batch].reverse());
    const reordered = await count();
    // Other rows (a part of the batch): new blocks.
    await insert(n[0], 'dd', batch.slice(0, 100));
    await insert(n[0], 'dd', batch.slice(100));
    const split = await count();
    note('cityHash64 key: same 200 rows x3 (two nodes) -> rows; then reversed -> rows; then as two batches of 100 -> rows', { identical: viaOtherNode, reordered, split });
    expect(reordered).toBe(200);
    expect(split).toBe(400);
    const other = Array.from({ length: 200 }, (_, i) => [1000 + i, `w${i}`]);
    for (let i = 0; i < 3; i++) await insert(n[0], 'dd_rand', other);
    const randCount = (await count()) - split;
    note('rand() key: the same 200 rows inserted 3 times -> rows', randCount);
    expect(randCount).toBeGreaterThan(200);
    // insert_deduplicate=0 turns the replicated block deduplication off.
    await ok(n[0], `INSERT INTO ${DB}.dd FORMAT TabSeparated\n${tsv(batch)}`, { insert_distributed_sync: 1, insert_deduplicate: 0 });
    expect((await count()) - randCount).toBe(split + 200);
  });

  it('6. a view over a replicated source into a replicated AggregatingMergeTree, read through Distributed tables: the same answer on every node', async () => {
    await ok(n[0], `CREATE TABLE ${DB}.email_local ON CLUSTER ${C} (campaign String, recipient String, kind String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/email_local/${SUFFIX}', '{replica}') ORDER BY (campaign, recipient)`);
    await ok(n[0], `CREATE TABLE ${DB}.email ON CLUSTER ${C} AS ${DB}.email_local ENGINE = Distributed(${C}, ${DB}, email_local, cityHash64(recipient))`);
    await ok(
      n[0],
      `CREATE TABLE ${DB}.totals_local ON CLUSTER ${C} (campaign String, n AggregateFunction(count), opens AggregateFunction(uniqExact, String)) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/${DB}/totals_local/${SUFFIX}', '{replica}') ORDER BY campaign`,
    );
    await ok(n[0], `CREATE TABLE ${DB}.totals ON CLUSTER ${C} AS ${DB}.totals_local ENGINE = Distributed(${C}, ${DB}, totals_local, rand())`);
    await ok(
      n[0],
      `CREATE MATERIALIZED VIEW ${DB}.totals_mv ON CLUSTER ${C} TO ${DB}.totals_local AS SELECT campaign, countState() AS n, uniqExactStateIf(recipient, kind = 'open') AS opens FROM ${DB}.email_local GROUP BY campaign`,
    );
    const events = Array.from({ length: 3000 }, (_, i) => [`c${i % 7}`, `u${(i * 37) % 911}`, i % 3 === 0 ? 'open' : 'send']);
    const expected = new Map<string, { n: number; opens: Set<string> }>();
    for (const [c, r, k] of events) {
      const e = expected.get(c) ?? { n: 0, opens: new Set<string>() };
      e.n++;
      if (k === 'open') e.opens.add(r);
      expected.set(c, e);
    }
    const want = [...expected].sort(([a], [b]) => a.localeCompare(b)).map(([campaign, e]) => ({ campaign, n: e.n, opens: e.opens.size }));
    const read = (node: ClickHouseClusterNode) => rows(node, `SELECT campaign, countMerge(n) AS n, uniqExactMerge(opens) AS opens FROM ${DB}.totals GROUP BY campaign ORDER BY campaign`);
    const half = events.length / 2;
    await ok(n[0], `INSERT INTO ${DB}.email FORMAT TabSeparated\n${tsv(events.slice(0, half))}`, { insert_distributed_sync: 1 });
    await ok(n[3], `INSERT INTO ${DB}.email FORMAT TabSeparated\n${tsv(events.slice(half))}`, { insert_distributed_sync: 1 });
    const ms = await waitFor(async () => {
      for (const node of n) if (JSON.stringify(await read(node)) !== JSON.stringify(want)) return false;
      return true;
    }, 15_000, 'the same totals on every node');
    note('merged aggregates equal on all 4 nodes after (ms)', ms);
    for (const node of n) expect(await read(node)).toEqual(want);
    // The totals shard tables are replicated too: each replica of a shard holds the same states.
    const parts = await Promise.all(n.map((x) => num(x, `SELECT count() FROM ${DB}.totals_local`)));
    expect(parts[0]).toBe(parts[1]);
    expect(parts[2]).toBe(parts[3]);
    // A retry of the same insert: the source block is deduplicated; is the view's block too (no double counting)?
    await ok(n[0], `INSERT INTO ${DB}.email FORMAT TabSeparated\n${tsv(events.slice(0, half))}`, { insert_distributed_sync: 1 });
    await sleep(500);
    const afterRetry = await read(n[2]);
    const source = await num(n[2], `SELECT count() FROM ${DB}.email`);
    note('after retrying an identical insert through the view: source rows, totals equal to before', { source, totalsUnchanged: JSON.stringify(afterRetry) === JSON.stringify(want) });
    expect(source).toBe(events.length);
    expect(afterRetry).toEqual(want);
  });

  it('13. views and replicated deduplication: different inserts giving the same view block are both counted; a retried insert the source drops as a duplicate does not run the views', async () => {
    // So a node killed after its source table took a block and before its views wrote theirs leaves the views
    // short of that block for good: the retry is dropped by the source and the views never see it
    // (docs/deploy.md, "Deploying to a cluster", and deploy --rebuild).
    await ok(n[0], `CREATE TABLE ${DB}.dedup_src ON CLUSTER ${C} (campaign String, id UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/dedup_src/${SUFFIX}', '{replica}') ORDER BY id`);
    await ok(n[0], `CREATE TABLE ${DB}.dedup_agg ON CLUSTER ${C} (campaign String, n UInt64) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/${DB}/dedup_agg/${SUFFIX}', '{replica}') ORDER BY campaign`);
    await ok(n[0], `CREATE MATERIALIZED VIEW ${DB}.dedup_mv ON CLUSTER ${C} TO ${DB}.dedup_agg AS SELECT campaign, count() AS n FROM ${DB}.dedup_src GROUP BY campaign`);
    const counts = async () => ({ source: await num(n[0], `SELECT count() FROM ${DB}.dedup_src`), counted: await num(n[0], `SELECT sum(n) FROM ${DB}.dedup_agg`) });
    // Two different events of one campaign: the view turns each into the same block, ('c1', 1).
    await ok(n[0], `INSERT INTO ${DB}.dedup_src VALUES ('c1', 1)`);
    await ok(n[0], `INSERT INTO ${DB}.dedup_src VALUES ('c1', 2)`);
    expect(await counts()).toEqual({ source: 2, counted: 2 });
    // Only the source deduplicates: its duplicate is dropped and the view does not run.
    await ok(n[0], `INSERT INTO ${DB}.dedup_src VALUES ('c1', 1)`);
    expect(await counts()).toEqual({ source: 2, counted: 2 });
    // A view block whose source block is new is never dropped as a duplicate of an earlier view block.
    await ok(n[0], `INSERT INTO ${DB}.dedup_src VALUES ('c1', 3)`);
    expect(await counts()).toEqual({ source: 3, counted: 3 });
  });

  it('14. a delete is followed on every node (server/mutations.ts): held on shard 2 by SYSTEM STOP MERGES, it is running until shard 2 has applied it', async () => {
    const pending = (x: ClickHouseClusterNode) => num(x, `SELECT count() FROM system.mutations WHERE database = '${DB}' AND table = 'md__local' AND is_done = 0`);
    await ok(n[0], `CREATE TABLE ${DB}.md__local ON CLUSTER ${C} (x UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/md_local/${SUFFIX}', '{replica}') ORDER BY x`);
    await ok(n[0], `CREATE TABLE ${DB}.md ON CLUSTER ${C} AS ${DB}.md__local ENGINE = Distributed(${C}, ${DB}, md__local, cityHash64(x))`);
    // No insert_quorum: 18.16 never mutates a shard's last quorum part.
    await ok(n[0], `INSERT INTO ${DB}.md FORMAT TabSeparated\n${tsv(Array.from({ length: 1000 }, (_, i) => [i]))}`, { insert_distributed_sync: 1 });
    await waitFor(async () => (await Promise.all(n.map((x) => num(x, `SELECT count() FROM ${DB}.md__local`)))).reduce((a, b) => a + b) === 2000, 30_000, 'every replica to hold its shard');
    const engine = await ServerEngine.open({ url: n[1].url, database: DB, cluster: C });
    try {
      for (const x of [n[2], n[3]]) await ok(x, `SYSTEM STOP MERGES ${DB}.md__local`);
      const before = await mutationIds(engine, 'md');
      await ok(n[1], `ALTER TABLE ${DB}.md__local ON CLUSTER ${C} DELETE WHERE x < 500`);
      const ids = await startedMutations(engine, 'md', before);
      // One per node: each shard numbers its own mutations, and each replica applies them to its parts.
      expect([...(ids ?? [])].map((k) => k.split('/')[0]).sort()).toEqual(['0', '1', '2', '3']);
      await waitFor(async () => (await pending(n[0])) === 0 && (await pending(n[1])) === 0, 60_000, 'shard 1 to apply the delete');
      // This node alone has nothing left to do (all an earlier follow asked); shard 2 still has.
      expect([await pending(n[1]), await pending(n[2]), await pending(n[3])]).toEqual([0, 1, 1]);
      expect(await mutationState(engine, 'md', ids)).toEqual({ state: 'running' });
      expect(await followMutations(engine, 'md', { ids, untilMs: 1_000, pollMs: 100 })).toEqual({ state: 'running' });
      // A node that stops answering (kill -9) keeps the delete running; once it has been silent long enough the
      // wait goes on without it, and it applies the mutation from ZooKeeper when it is back.
      await n[3].kill();
      await ok(n[2], `SYSTEM START MERGES ${DB}.md__local`);
      await waitFor(async () => (await pending(n[2])) === 0, 60_000, 'node s2r1 to apply the delete');
      expect(await mutationState(engine, 'md', ids)).toEqual({ state: 'running' });
      expect(await followMutations(engine, 'md', { ids, untilMs: 1_000, pollMs: 100 })).toEqual({ state: 'running' });
      // A request's wait ends there, running (its job follows on), rather than sitting out the silence (it would
      // be done once the node is left out).
      expect(await followMutations(engine, 'md', { ids, untilMs: 600_000, pollMs: 100, silentAfterMs: 30_000, untilOnlySilent: true })).toEqual({ state: 'running' });
      expect(await waitForMutations(engine, 'md', ids)).toEqual({ state: 'running' });
      expect(await followMutations(engine, 'md', { ids, untilMs: 60_000, pollMs: 100, silentAfterMs: 1_000 })).toEqual({ state: 'done' });
      // Back, it still has the delete to do (merges start again with the server) and is waited for again.
      await n[3].start();
      await waitFor(async () => (await pending(n[3])) === 0, 60_000, 'node s2r2 to apply the delete once back');
      expect(await followMutations(engine, 'md', { ids, untilMs: 60_000, pollMs: 100 })).toEqual({ state: 'done' });
      // Done means done everywhere: every node reads what is left.
      for (const x of n) expect(await num(x, `SELECT count() FROM ${DB}.md`)).toBe(500);
    } finally {
      for (const x of [n[2], n[3]]) await http(x, `SYSTEM START MERGES ${DB}.md__local`).catch(() => undefined);
      await engine.close();
    }
  });

  it('7. RENAME ON CLUSTER (one and two pairs), no EXCHANGE, ALTER ON CLUSTER (replicated yes, Distributed no), DROP then CREATE on the same path', async () => {
    const mk = (name: string, path: string) =>
      `CREATE TABLE ${DB}.${name} ON CLUSTER ${C} (x UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/${path}/${SUFFIX}', '{replica}') ORDER BY x`;
    await ok(n[0], mk('a', 'a'));
    await ok(n[0], mk('b', 'b'));
    await ok(n[0], `INSERT INTO ${DB}.a VALUES (1)`);
    await ok(n[0], `INSERT INTO ${DB}.b VALUES (2)`);
    await ok(n[0], `RENAME TABLE ${DB}.a TO ${DB}.a1 ON CLUSTER ${C}`);
    await ok(n[0], `RENAME TABLE ${DB}.a1 TO ${DB}.a ON CLUSTER ${C}`);
    const swap = await ok(n[0], `RENAME TABLE ${DB}.a TO ${DB}.a_old, ${DB}.b TO ${DB}.a ON CLUSTER ${C}`);
    note('two-pair RENAME ON CLUSTER (ms)', swap.ms);
    for (const node of n) {
      expect((await rows<{ name: string }>(node, `SELECT name FROM system.tables WHERE database = '${DB}' AND name IN ('a', 'a_old', 'b') ORDER BY name`)).map((r) => r.name)).toEqual(['a', 'a_old']);
    }
    expect(await num(n[0], `SELECT x FROM ${DB}.a`)).toBe(2);
    // A renamed replicated table keeps its ZooKeeper path: a new table on that path collides with it.
    const paths = await rows<{ table: string; zookeeper_path: string }>(n[0], `SELECT table, zookeeper_path FROM system.replicas WHERE database = '${DB}' AND table IN ('a', 'a_old') ORDER BY table`);
    expect(paths).toEqual([
      { table: 'a', zookeeper_path: `/clickhouse/tables/01/${DB}/b/${SUFFIX}` },
      { table: 'a_old', zookeeper_path: `/clickhouse/tables/01/${DB}/a/${SUFFIX}` },
    ]);
    const clash = await http(n[0], mk('a_new', 'a'));
    expect(clash.text).toMatch(/Code: 253.*Replica \/clickhouse\/tables\/0[12]\/probe\/a\/\w+\/replicas\/s[12]r[12] already exists/);
    note('CREATE on the ZooKeeper path of a live (renamed) table', firstLine(clash.text));
    const exchange = await http(n[0], `EXCHANGE TABLES ${DB}.a AND ${DB}.a_old ON CLUSTER ${C}`);
    expect(exchange.status).toBe(400);
    expect(exchange.text).toMatch(/^Code: 62, e\.displayText\(\) = DB::Exception: Syntax error: failed at position 1: EXCHANGE/);

    // ALTER ON CLUSTER on a replicated table: run by one replica per shard, replicated to the other.
    const alter = await ok(n[0], `ALTER TABLE ${DB}.t_local ON CLUSTER ${C} ADD COLUMN c1 UInt8 DEFAULT 7`, { default_format: 'JSONEachRow' });
    note('ALTER ON CLUSTER on ReplicatedMergeTree: rows, ms', { rows: alter.text.split('\n').map((l) => JSON.parse(l)), ms: alter.ms });
    const visible = await Promise.all(n.map((x) => num(x, `SELECT count() FROM system.columns WHERE database = '${DB}' AND table = 't_local' AND name = 'c1'`)));
    note('column on each node right after the ALTER returned', visible);
    await waitFor(async () => (await Promise.all(n.map((x) => num(x, `SELECT count() FROM system.columns WHERE database = '${DB}' AND table = 't_local' AND name = 'c1'`)))).every((c) => c === 1), 10_000, 'c1 on every replica');
    const noIfNotExists = await http(n[0], `ALTER TABLE ${DB}.t_local ON CLUSTER ${C} ADD COLUMN IF NOT EXISTS c1 UInt8`);
    expect(noIfNotExists.text).toMatch(/Syntax error/);
    // ALTER ON CLUSTER on a Distributed table is refused on a cluster whose shards replicate ...
    const distAlter = await http(n[0], `ALTER TABLE ${DB}.t ON CLUSTER ${C} ADD COLUMN c1 UInt8 DEFAULT 7`);
    expect(distAlter.status).toBe(500);
    expect(distAlter.text).toMatch(/Code: 371.*Table t isn't replicated, but shard #\d is replicated according to its cluster definition/);
    note('ALTER ON CLUSTER on a Distributed table', firstLine(distAlter.text));
    // ... but works ON CLUSTER <name>_nodes (every node its own shard, no internal_replication) ...
    await ok(n[0], `ALTER TABLE ${DB}.t ON CLUSTER ${cluster.nodesClusterName} ADD COLUMN c1 UInt8 DEFAULT 7`);
    for (const node of n) expect(await num(node, `SELECT count() FROM system.columns WHERE database = '${DB}' AND table = 't' AND name = 'c1'`)).toBe(1);
    // ... which in turn refuses replicated tables; and a plain ALTER on each node works too.
    const replicatedOnNodes = await http(n[0], `ALTER TABLE ${DB}.t_local ON CLUSTER ${cluster.nodesClusterName} ADD COLUMN c2 UInt8`);
    expect(replicatedOnNodes.text).toMatch(/Code: 371.*Table t_local is replicated, but shard #\d isn't replicated according to its cluster definition/);
    for (const node of n) await ok(node, `ALTER TABLE ${DB}.t_cols ADD COLUMN c1 UInt8 DEFAULT 7`);
    await ok(n[0], `INSERT INTO ${DB}.t (d, x, s, c1) VALUES ('2025-03-01', 1, 'a', 3)`, { insert_distributed_sync: 1 });
    await waitFor(async () => (await num(n[3], `SELECT sum(c1) FROM ${DB}.t_cols`)) === 3, 10_000, 'the new column through t_cols');

    // DROP ON CLUSTER removes the replicated table's ZooKeeper path (last replica): CREATE on the same path works.
    const zkPath = `/clickhouse/tables/01/${DB}/a/${SUFFIX}`;
    expect(await num(n[0], `SELECT count() FROM system.zookeeper WHERE path = '${zkPath}' AND name = 'replicas'`)).toBe(1);
    await ok(n[0], `DROP TABLE ${DB}.a_old ON CLUSTER ${C}`);
    expect(await num(n[0], `SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/tables/01/${DB}/a' AND name = '${SUFFIX}'`)).toBe(0);
    await ok(n[0], mk('a_old', 'a'));
    for (const node of n) expect(await num(node, `SELECT count() FROM ${DB}.a_old`)).toBe(0);
    await ok(n[1], `INSERT INTO ${DB}.a_old VALUES (5)`);
    await waitFor(async () => (await num(n[0], `SELECT count() FROM ${DB}.a_old`)) === 1, 10_000, 'the re-created table to replicate');
  });

  it('8. insert_quorum on a table replicated on all 4 nodes, with select_sequential_consistency', async () => {
    const insert = (node: ClickHouseClusterNode, key: string, settings: Record<string, string | number>) => http(node, `INSERT INTO ${DB}.meta VALUES ('${key}', 1)`, settings);
    for (const q of [2, 3, 4]) {
      const a = await insert(n[0], `q${q}`, { insert_quorum: q });
      expect(a.status, a.text).toBe(200);
      note(`insert_quorum=${q} of 4 replicas (ms)`, a.ms);
    }
    // A quorum write is readable with select_sequential_consistency on the replicas that have it; another one refuses.
    const seq = await Promise.all(n.map((x) => http(x, `SELECT count() FROM ${DB}.meta`, { select_sequential_consistency: 1 })));
    note('select_sequential_consistency=1 right after insert_quorum=4, per node', seq.map((a) => (a.status === 200 ? a.text : firstLine(a.text))));
    for (const a of seq) expect(a.text).toBe('4');
    // Quorum inserts into one table are one at a time: concurrent ones fail while another waits for its quorum.
    const concurrent = await Promise.all(Array.from({ length: 6 }, (_, i) => insert(n[i % 4], `c${i}`, { insert_quorum: 2 })));
    const failures = concurrent.filter((a) => a.status !== 200).map((a) => firstLine(a.text));
    note('6 concurrent insert_quorum=2 inserts: failed', { failed: failures.length, errors: [...new Set(failures.map((f) => f.replace(/Status:.*/, 'Status: ...')))] });
    for (const f of failures) expect(f).toMatch(/Code: 286, e\.displayText\(\) = DB::Exception: (Another quorum insert has been already started|Quorum for previous write has not been satisfied yet)/);
  });

  it('9. kill -9 a replica during Distributed inserts: the other replica takes them; the killed one catches up after start()', async () => {
    await ok(n[0], `CREATE TABLE ${DB}.k_local ON CLUSTER ${C} (x UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/k_local/${SUFFIX}', '{replica}') ORDER BY x`);
    await ok(n[0], `CREATE TABLE ${DB}.k ON CLUSTER ${C} AS ${DB}.k_local ENGINE = Distributed(${C}, ${DB}, k_local, cityHash64(x))`);
    const victim = cluster.node(2, 2);
    let next = 0;
    let acked = 0;
    const errors: string[] = [];
    let slowest = 0;
    let running = true;
    // Three inserting clients, so that some insert is on its way to the victim when it is killed.
    const loop = Promise.all([0, 1, 2].map(async () => {
      while (running) {
        await sleep(100); // ~25 inserts a second in all: far from 300 parts a partition before merges catch up
        const batch = Array.from({ length: 50 }, () => [next++]);
        const t = Date.now();
        try {
          const a = await http(n[0], `INSERT INTO ${DB}.k FORMAT TabSeparated\n${tsv(batch)}`, { insert_distributed_sync: 1 });
          if (a.status === 200) acked += batch.length;
          else errors.push(`HTTP ${a.status}: ${a.text.replace(/\s+/g, ' ').slice(0, 400)}`);
        } catch (e) {
          errors.push(`fetch: ${(e as Error).message}`);
        }
        slowest = Math.max(slowest, Date.now() - t);
      }
    }));
    await sleep(1_000);
    await victim.kill();
    const killedAt = Date.now();
    const ackedAtKill = acked;
    await sleep(3_000);
    const whileDown = acked - ackedAtKill;
    // Back before ZooKeeper has expired its old session: its replicas cannot reactivate until it has.
    await victim.start();
    const startedAt = Date.now();
    note('victim down for (ms), rows acked meanwhile', { ms: startedAt - killedAt, rows: whileDown });
    // Its replicas cannot reactivate (their is_active node of the old ZooKeeper session is still there): what do
    // inserts do meanwhile, straight into it and through a node that has seen no error from it?
    const status = await rows(victim, `SELECT is_readonly, is_session_expired, active_replicas, queue_size, absolute_delay FROM system.replicas WHERE database = '${DB}' AND table = 'k_local'`);
    note('victim k_local replica right after start()', status[0]);
    const direct = await http(victim, `INSERT INTO ${DB}.k_local VALUES (2000000000)`);
    note('direct insert into the restarted replica before it caught up', direct.status === 200 ? 'ok' : firstLine(direct.text));
    expect(direct.status, direct.text).toBe(200);
    const viaNode2: string[] = [];
    for (let i = 0; i < 10; i++) {
      const a = await http(n[1], `INSERT INTO ${DB}.k FORMAT TabSeparated\n${tsv([[1_000_000_000 + i]])}`, { insert_distributed_sync: 1 });
      viaNode2.push(a.status === 200 ? 'ok' : firstLine(a.text));
    }
    note('10 inserts through node s1r2 right after the restart', viaNode2);
    expect(viaNode2.every((r) => r === 'ok')).toBe(true);
    await sleep(1_000);
    running = false;
    await loop;
    note('inserts through node s1r1 (3 clients, 50 rows each) during kill/restart', { ackedRows: acked, failed: errors.length, slowestMs: slowest, errors: [...new Set(errors)] });
    const catchUp = await waitFor(
      async () => (await num(cluster.node(2, 1), `SELECT count() FROM ${DB}.k_local`)) === (await num(victim, `SELECT count() FROM ${DB}.k_local`)),
      60_000,
      'the victim to catch up',
    );
    note('victim caught up (both replicas of shard 2 equal) after start() (ms)', Date.now() - startedAt);
    const log = readFileSync(path.join(victim.dir, 'error.log'), 'utf8');
    const already = log.split('\n').filter((l) => l.includes('appears to be already active'));
    note('victim error.log lines "appears to be already active" after the restart', { count: already.length, first: already[0]?.replace(/^.*?<Error> /, '').slice(0, 300) });
    note('... and after the loop stopped (ms)', catchUp);
    const [total] = await rows<{ n: number; d: number }>(n[2], `SELECT count() AS n, uniqExact(x) AS d FROM ${DB}.k WHERE x < 1000000000`);
    expect(total.n).toBe(total.d);
    expect(total.n).toBeGreaterThanOrEqual(acked);
    expect(total.n).toBeLessThanOrEqual(next);
    expect(await num(n[0], `SELECT count() FROM ${DB}.k WHERE x >= 1000000000`)).toBe(11);
    expect(whileDown).toBeGreaterThan(0);
    const shard2 = await Promise.all([cluster.node(2, 1), victim].map((x) => num(x, `SELECT count() FROM ${DB}.k_local`)));
    expect(shard2[0]).toBe(shard2[1]);
    expect(shard2[0]).toBeGreaterThan(0);
  }, 120_000);

  it('10 (and 8). a node down: ON CLUSTER DDL times out, runs when the node is back; quorum inserts', async () => {
    const victim = cluster.node(2, 2);
    // Let ZooKeeper drop the session of the previous kill first.
    await waitFor(async () => (await num(n[0], `SELECT min(active_replicas) FROM system.replicas WHERE database = '${DB}' AND table = 'meta'`)) === 4, 60_000, 'all replicas active');
    await victim.kill();
    const killedAt = Date.now();
    const create = (name: string) => `CREATE TABLE ${DB}.${name} ON CLUSTER ${C} (x UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${DB}/${name}/${SUFFIX}', '{replica}') ORDER BY x`;
    const late = await http(n[0], create('late'), { distributed_ddl_task_timeout: 3, wait_end_of_query: 1 });
    note('ON CLUSTER DDL with a node down, distributed_ddl_task_timeout=3 as an HTTP setting', { status: late.status, ms: late.ms, text: late.text });
    expect(late.status).toBe(500);
    expect(late.text).toMatch(
      /^Code: 159, e\.displayText\(\) = DB::Exception: Watching task \/clickhouse\/task_queue\/ddl\/query-\d+ is executing longer than distributed_ddl_task_timeout \(=3\) seconds\. There are 1 unfinished hosts \(0 of them are currently active\), they are going to execute the query in background/,
    );
    expect(late.ms).toBeGreaterThanOrEqual(3_000);
    const late2 = await http(n[0], create('late2'), { distributed_ddl_task_timeout: 3 });
    note('... without wait_end_of_query', { status: late2.status, body: late2.text.slice(0, 120) });
    const late3 = await http(n[0], create('late3'), { distributed_ddl_task_timeout: 0 });
    note('... with distributed_ddl_task_timeout=0', { status: late3.status, ms: late3.ms, body: late3.text });
    expect(late3.status).toBe(200);
    await waitFor(async () => (await Promise.all(n.slice(0, 3).map((x) => num(x, `SELECT count() FROM system.tables WHERE database = '${DB}' AND name LIKE 'late%'`)))).every((c) => c === 3), 10_000, 'late tables on the live nodes');

    // 8 with a node down (its ZooKeeper session still alive): the majority (3 of 4) works.
    const insert = (key: string, settings: Record<string, string | number>) => http(n[0], `INSERT INTO ${DB}.meta VALUES ('${key}', 1)`, settings);
    const majority = await insert('down3', { insert_quorum: 3 });
    expect(majority.status, majority.text).toBe(200);
    expect((await insert('down2', { insert_quorum: 2 })).status).toBe(200);
    const all4 = await insert('down4', { insert_quorum: 4, insert_quorum_timeout: 2_000 });
    note('insert_quorum=4 with a node just killed', { status: all4.status, ms: all4.ms, text: firstLine(all4.text) });
    expect(all4.text).toMatch(/Code: 319, e\.displayText\(\) = DB::Exception: Unknown status, client must retry\. Reason: Code: 159.*Timeout while waiting for quorum|Code: 285/);
    const stuck = await insert('after4', { insert_quorum: 2 });
    note('insert_quorum=2 after that failed quorum write', { status: stuck.status, text: firstLine(stuck.text) });
    const sees = await http(n[1], `SELECT count() FROM ${DB}.meta WHERE k = 'down4'`);
    const seesSeq = await http(n[1], `SELECT count() FROM ${DB}.meta WHERE k = 'down4'`, { select_sequential_consistency: 1 });
    note('the failed quorum write is visible on another replica: plain, sequential', [sees.text, seesSeq.text]);
    const expiry = await waitFor(async () => (await num(n[0], `SELECT active_replicas FROM system.replicas WHERE database = '${DB}' AND table = 'meta'`)) === 3, 60_000, 'the killed replica to be inactive');
    note('ZooKeeper marks the killed replica inactive after (ms since kill)', Date.now() - killedAt - 0);
    note('... waited here (ms)', expiry);
    const lessThan = await insert('down4b', { insert_quorum: 4 });
    expect(lessThan.text).toMatch(/Code: 285, e\.displayText\(\) = DB::Exception: Number of alive replicas \(3\) is less than requested quorum \(4\)/);
    note('insert_quorum=4 with the replica inactive', { ms: lessThan.ms, text: firstLine(lessThan.text) });

    // The node comes back: it runs the DDL it missed, and fetches the quorum part, which frees quorum inserts.
    const downFor = Date.now() - killedAt;
    await victim.start();
    const startedAt = Date.now();
    const ddlMs = await waitFor(async () => (await num(victim, `SELECT count() FROM system.tables WHERE database = '${DB}' AND name LIKE 'late%'`)) === 3, 60_000, 'the missed DDL on the restarted node');
    note('down for (ms); the missed ON CLUSTER DDL ran on it within (ms after start())', { downFor, ddlMs });
    const quorumMs = await waitFor(async () => (await insert(`back${Date.now()}`, { insert_quorum: 2 })).status === 200, 60_000, 'quorum inserts again');
    note('quorum inserts work again after start() (ms)', Date.now() - startedAt);
    note('... waited here (ms)', quorumMs);
    await waitFor(async () => (await num(victim, `SELECT count() FROM ${DB}.meta`)) === (await num(n[0], `SELECT count() FROM ${DB}.meta`)), 60_000, 'meta on the restarted node');
    note('the restarted replica holds the all-nodes table again after start() (ms)', Date.now() - startedAt);
  }, 150_000);
});

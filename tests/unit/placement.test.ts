// The DDL a Placement writes: one ClickHouse, or a cluster (replicated shard tables behind Distributed tables).
// The statements themselves run on a real 18.16 cluster in tests/e2e/deploy-cluster.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClusterPlacement, replicatedEngine, shardingKeyFor, SINGLE_NODE } from '../../cli/src/engine/placement.js';
import { viewSelectOnShards } from '../../cli/src/project/ddl.js';

const cluster = new ClusterPlacement('c1', 'app');

describe('replicatedEngine', () => {
  it('puts the ZooKeeper path and replica first and keeps the engine arguments and clauses', () => {
    expect(replicatedEngine('MergeTree() ORDER BY (a)', '/p', '{replica}')).toBe("ReplicatedMergeTree('/p', '{replica}') ORDER BY (a)");
    expect(replicatedEngine('ReplacingMergeTree(version) ORDER BY id', '/p', 'r')).toBe("ReplicatedReplacingMergeTree('/p', 'r', version) ORDER BY id");
    expect(replicatedEngine('SummingMergeTree((a, b)) ORDER BY (k)', '/p', 'r')).toBe("ReplicatedSummingMergeTree('/p', 'r', (a, b)) ORDER BY (k)");
    expect(replicatedEngine('MergeTree ORDER BY version', '/p', 'r')).toBe("ReplicatedMergeTree('/p', 'r') ORDER BY version");
    expect(replicatedEngine('Null()', '/p', 'r')).toBe('Null()');
  });

  it('never changes what follows the engine name and arguments (random clauses)', () => {
    const name = fc.constantFrom('MergeTree', 'ReplacingMergeTree', 'AggregatingMergeTree', 'CollapsingMergeTree', 'VersionedCollapsingMergeTree', 'SummingMergeTree');
    const arg = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/);
    const args = fc.oneof(fc.constant(''), arg, fc.tuple(arg, arg).map(([a, b]) => `${a}, ${b}`), fc.tuple(arg, arg).map(([a, b]) => `(${a}, ${b})`));
    // Clauses with anything in them, quotes and brackets included, as ENGINE_SETTINGS or a TTL may have.
    const rest = fc.string({ maxLength: 60 }).map((s) => ` ORDER BY (${JSON.stringify(s)})`);
    fc.assert(
      fc.property(name, args, rest, (n, a, r) => {
        const out = replicatedEngine(`${n}(${a})${r}`, "/x/{shard}/t-1", '{replica}');
        const expectedArgs = ["'/x/{shard}/t-1'", "'{replica}'", ...(a ? [a] : [])].join(', ');
        expect(out).toBe(`Replicated${n}(${expectedArgs})${r}`);
      }),
    );
  });
});

describe('ClusterPlacement', () => {
  it('creates a replicated shard table and a Distributed table in front of it, both ON CLUSTER', () => {
    const [local, dist] = cluster.createTable({ name: 'events', columns: '(\n    `a` UInt8,\n    INDEX ix a TYPE minmax GRANULARITY 1\n)', engine: 'MergeTree() ORDER BY (a)', shardingKey: 'cityHash64(a)' });
    expect(local).toMatch(/^CREATE TABLE `app`\.`events__local` ON CLUSTER `c1`\n/);
    expect(local).toMatch(/ENGINE = ReplicatedMergeTree\('\/clickhouse\/emailstats\/app\/\{shard\}\/events__local-[0-9a-f]{12}', '\{replica\}'\) ORDER BY \(a\)$/);
    expect(local).toContain('INDEX ix a TYPE minmax');
    expect(dist).toBe('CREATE TABLE `app`.`events` ON CLUSTER `c1`\n(\n    `a` UInt8\n)\nENGINE = Distributed(`c1`, `app`, `events__local`, cityHash64(a))');
  });

  it('gives every shard table a ZooKeeper path of its own (a renamed table keeps its path)', () => {
    const spec = { name: 't', columns: '(a UInt8)', engine: 'MergeTree() ORDER BY a' };
    expect(cluster.createTable(spec)[0]).not.toBe(cluster.createTable(spec)[0]);
  });

  it('replicates record tables to every node under a fixed path, with no Distributed table', () => {
    const out = cluster.createTable({ name: '_emailstats_live', columns: '(v UInt64)', engine: 'MergeTree ORDER BY v', ifNotExists: true, everywhere: true });
    expect(out).toEqual(["CREATE TABLE IF NOT EXISTS `app`.`_emailstats_live` ON CLUSTER `c1`\n(v UInt64)\nENGINE = ReplicatedMergeTree('/clickhouse/emailstats/app/records/_emailstats_live', '{shard}-{replica}') ORDER BY v"]);
  });

  it('swaps by moving both shard tables and both Distributed tables in one RENAME', () => {
    const out = cluster.swap('t', 't__new', 'rand()');
    const rename = out.find((s) => s.startsWith('RENAME'))!;
    expect(rename).toBe('RENAME TABLE `app`.`t__local` TO `app`.`t__new_old__local`, `app`.`t__new__local` TO `app`.`t__local`, `app`.`t` TO `app`.`t__new_old`, `app`.`t__new_next` TO `app`.`t` ON CLUSTER `c1`');
    // The Distributed table that becomes `t` reads `t__local`, the new rows after the rename.
    expect(out[out.indexOf(rename) - 1]).toBe('CREATE TABLE `app`.`t__new_next` ON CLUSTER `c1` AS `app`.`t__new` ENGINE = Distributed(`c1`, `app`, `t__local`, rand())');
    expect(out.slice(out.indexOf(rename) + 1).every((s) => s.startsWith('DROP TABLE IF EXISTS'))).toBe(true);
  });

  it('alters the shard tables and replaces the Distributed table; mutates and truncates the shard tables only', () => {
    const out = cluster.alterColumns({ name: 't', columns: '(a UInt8, b UInt8)', engine: 'MergeTree() ORDER BY a', shardingKey: 'cityHash64(a)' }, ['ADD COLUMN b UInt8']);
    expect(out[0]).toBe('ALTER TABLE `app`.`t__local` ON CLUSTER `c1` ADD COLUMN b UInt8');
    expect(out).toContain('CREATE TABLE `app`.`t__emailstats_dist` ON CLUSTER `c1`\n(a UInt8, b UInt8)\nENGINE = Distributed(`c1`, `app`, `t__local`, cityHash64(a))');
    expect(out).toContain('RENAME TABLE `app`.`t` TO `app`.`t__emailstats_dist_old`, `app`.`t__emailstats_dist` TO `app`.`t` ON CLUSTER `c1`');
    expect(out.some((s) => /^ALTER TABLE `app`\.`t` /.test(s))).toBe(false);
    expect(cluster.alterColumns({ name: 't', columns: '(a UInt8)', engine: 'MergeTree() ORDER BY a' }, [])).toEqual([]);
    expect(cluster.mutate('t', 'DELETE WHERE b = 1')).toEqual(['ALTER TABLE `app`.`t__local` ON CLUSTER `c1` DELETE WHERE b = 1']);
    expect(cluster.truncate('t')).toEqual(['TRUNCATE TABLE `app`.`t__local` ON CLUSTER `c1`']);
  });

  it('reads a system table of every node, replicas included, with the login given, quoted', () => {
    const reach = new ClusterPlacement('c1', 'app', { nodes: ['ch-1:9000', 'ch-2:9000', '[::1]:9001'], user: 'deploy', password: "p'w\\d" });
    expect(reach.nodeCount).toBe(3);
    expect(reach.everyNode('system.processes')).toBe("remote('ch-1:9000,ch-2:9000,[::1]:9001', system, `processes`, 'deploy', 'p\\'w\\\\d')");
    expect(SINGLE_NODE.everyNode('system.processes')).toBe('system.processes');
    expect(SINGLE_NODE.nodeCount).toBe(1);
    // One table expression per node, in the cluster's order, when rows must be told apart by node.
    expect(reach.eachNode('system.mutations')).toEqual([
      "remote('ch-1:9000', system, `mutations`, 'deploy', 'p\\'w\\\\d')",
      "remote('ch-2:9000', system, `mutations`, 'deploy', 'p\\'w\\\\d')",
      "remote('[::1]:9001', system, `mutations`, 'deploy', 'p\\'w\\\\d')",
    ]);
    expect(SINGLE_NODE.eachNode('system.mutations')).toEqual(['system.mutations']);
    expect(new ClusterPlacement('c1', 'app').eachNode('system.mutations')).toEqual(['system.mutations']);
  });

  it('points a view at the shard tables it reads and writes', () => {
    const select = viewSelectOnShards('SELECT a, count() FROM events AS e JOIN (SELECT 1 AS a) USING a WHERE a IN (SELECT a FROM other) GROUP BY a', (n) => n === 'events' || n === 'other', cluster, 'app');
    expect(select).toBe('SELECT a, count() FROM `app`.`events__local` AS e JOIN (SELECT 1 AS a) USING a WHERE a IN (SELECT a FROM `app`.`other__local` AS `other`) GROUP BY a');
    expect(cluster.createView('mv', 'totals', select)[0]).toMatch(/^CREATE MATERIALIZED VIEW `app`\.`mv` ON CLUSTER `c1` TO `app`\.`totals__local` AS\n/);
  });
});

describe('SINGLE_NODE', () => {
  it('writes the statements of one ClickHouse', () => {
    expect(SINGLE_NODE.createTable({ name: 't', columns: '(a UInt8)', engine: 'MergeTree() ORDER BY a' })).toEqual(['CREATE TABLE `t`\n(a UInt8)\nENGINE = MergeTree() ORDER BY a']);
    expect(SINGLE_NODE.swap('t', 't_new', 'rand()')).toEqual(['DROP TABLE IF EXISTS `t_new_old`', 'RENAME TABLE `t` TO `t_new_old`, `t_new` TO `t`', 'DROP TABLE `t_new_old`']);
    expect(SINGLE_NODE.localTable('t')).toBe('t');
  });
});

describe('shardingKeyFor', () => {
  it('hashes the sorting key’s first part, so a retried batch is split as before', () => {
    expect(shardingKeyFor('campaign_id')).toBe('cityHash64(campaign_id)');
    expect(shardingKeyFor(undefined)).toBe('rand()');
  });
});

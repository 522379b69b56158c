// Where tables live: on one ClickHouse (embedded, or one server), or across a ClickHouse cluster
// (`deploy --clickhouse-cluster NAME`, docs/deploy.md "Deploying to a cluster"). Every DDL statement emailstats
// writes goes through a Placement, so the rest of the code names tables the same way on both: a datasource `t`
// is the table queries read and ingest writes into.
//
// On a cluster, datasource `t` is two tables on every node, created with ON CLUSTER:
//   t__local  the rows of this node's shard: the datasource's engine as its Replicated* variant
//   t         Distributed(cluster, db, t__local, sharding key): reads fan out to one replica per shard,
//             inserts are split by the sharding key (synchronously: insert_distributed_sync, server.ts)
// Materialized views run on each node over `<source>__local` into `<target>__local`, so each shard
// aggregates its own rows and a read through the target's Distributed table merges the shards' states.
// emailstats' own records (deployments, the deploy lock, logs) are one table replicated on every node
// (`everywhere`), so any node answers with the same record.
import { randomBytes } from 'node:crypto';
import { quoteIdent, quoteString } from '../sql/quote.js';

export interface TableSpec {
  name: string;
  /** The column list with its brackets: `(\n  a UInt8,\n  INDEX ...\n)`. */
  columns: string;
  /** What follows `ENGINE = `: `MergeTree() ORDER BY (a) SETTINGS ...`. */
  engine: string;
  ifNotExists?: boolean;
  /**
   * emailstats' own records: the same rows on every node of a cluster (one replicated table, no Distributed
   * table). Datasources, their quarantine tables and view targets are sharded.
   */
  everywhere?: boolean;
  /** The Distributed table's sharding key on a cluster (a datasource's SHARDING_KEY, else shardingKeyFor()). */
  shardingKey?: string;
}

export interface Placement {
  /** The cluster name, or undefined on a single ClickHouse. */
  readonly cluster?: string;
  createTable(spec: TableSpec): string[];
  dropTable(name: string): string[];
  /**
   * Puts table `replacement` (created by createTable) in `table`'s place, dropping the old rows, without a
   * moment where `table` is missing. `shardingKey` is the Distributed table's on a cluster.
   */
  swap(table: string, replacement: string, shardingKey: string): string[];
  /**
   * `ALTER TABLE <spec.name> <action>` for each column change; `spec` is the table as it is afterwards. On a
   * cluster the shard tables are altered and the Distributed table is replaced by one with the new columns.
   */
  alterColumns(spec: TableSpec, actions: string[]): string[];
  /** A mutation (`DELETE WHERE ...`): it changes rows, so on a cluster it runs on the shard tables. */
  mutate(name: string, action: string): string[];
  truncate(name: string): string[];
  /**
   * A materialized view `name` writing into `target`. `select` names datasources as the project does; on a
   * cluster the caller has pointed them at `localTable()` (project/ddl.ts, viewSelectOnShards).
   */
  createView(name: string, target: string, select: string): string[];
  /** The table holding a shard's rows of datasource `name` (the name itself on a single ClickHouse). */
  localTable(name: string): string;
  /** The shard-local tables that belong to `name`: they are not datasources of their own. */
  isLocalTable(name: string): boolean;
  /**
   * A table expression reading system table `table` (e.g. `system.processes`) of every node: on a cluster a
   * `remote()` over all its nodes, replicas included (a Distributed read would ask one replica per shard).
   */
  everyNode(table: `system.${string}`): string;
  /**
   * The same table of each node on its own, one table expression per node (the first is this node's on a single
   * ClickHouse): for reads whose rows must be told apart by node, which a remote() over all of them cannot do.
   */
  eachNode(table: `system.${string}`): string[];
  /** How many nodes hold a replica of emailstats' records: 1, or every node of the cluster. */
  readonly nodeCount: number;
}

export const SINGLE_NODE: Placement = {
  createTable: (s) => [`CREATE TABLE ${s.ifNotExists ? 'IF NOT EXISTS ' : ''}${quoteIdent(s.name)}\n${s.columns}\nENGINE = ${s.engine}`],
  dropTable: (name) => [`DROP TABLE IF EXISTS ${quoteIdent(name)}`],
  // A crash between the RENAME and the DROP leaves `<replacement>_old` behind: the swap owns the name, so it
  // clears it first rather than failing on "already exists".
  swap: (table, replacement) => {
    const old = quoteIdent(`${replacement}_old`);
    return [`DROP TABLE IF EXISTS ${old}`, `RENAME TABLE ${quoteIdent(table)} TO ${old}, ${quoteIdent(replacement)} TO ${quoteIdent(table)}`, `DROP TABLE ${old}`];
  },
  alterColumns: (spec, actions) => actions.map((a) => `ALTER TABLE ${quoteIdent(spec.name)} ${a}`),
  mutate: (name, action) => [`ALTER TABLE ${quoteIdent(name)} ${action}`],
  truncate: (name) => [`TRUNCATE TABLE ${quoteIdent(name)}`],
  createView: (name, target, select) => [`CREATE MATERIALIZED VIEW ${quoteIdent(name)} TO ${quoteIdent(target)} AS\n${select}`],
  localTable: (name) => name,
  isLocalTable: () => false,
  everyNode: (table) => table,
  eachNode: (table) => [table],
  nodeCount: 1,
};

const LOCAL_SUFFIX = '__local';

/**
 * The sharding key when a datasource names none: a hash of the sorting key's first part, so the same row always
 * goes to the same shard. That matters for retries: a batch inserted again after a failure is split exactly as
 * before, and each shard's replicated table drops the blocks it already has (rand() would split it differently
 * and store those rows twice). Without a sorting key, rand().
 */
export function shardingKeyFor(sortingKeyFirstPart: string | undefined): string {
  return sortingKeyFirstPart ? `cityHash64(${sortingKeyFirstPart})` : 'rand()';
}

/**
 * `XMergeTree(args) rest` as `ReplicatedXMergeTree('<path>', '<replica>', args) rest`; other engines (Null)
 * unchanged: they keep no rows to replicate.
 */
export function replicatedEngine(engine: string, zkPath: string, replica: string): string {
  const m = /^\s*([A-Za-z]*MergeTree)(?:\s*\(((?:[^()]|\((?:[^()]|\([^()]*\))*\))*)\))?/.exec(engine);
  if (!m) return engine;
  const args = [quoteString(zkPath), quoteString(replica), ...(m[2]?.trim() ? [m[2].trim()] : [])];
  return `Replicated${m[1]}(${args.join(', ')})${engine.slice(m[0].length)}`;
}

/** The cluster's nodes (`host:port`, native protocol) and the login emailstats uses, for reads of every node. */
export interface ClusterNodes {
  nodes: string[];
  user: string;
  password: string;
}

export class ClusterPlacement implements Placement {
  private readonly on: string;

  constructor(
    readonly cluster: string,
    private readonly database: string,
    private readonly reach: ClusterNodes = { nodes: [], user: 'default', password: '' },
  ) {
    this.on = `ON CLUSTER ${quoteIdent(cluster)}`;
  }

  get nodeCount(): number {
    return this.reach.nodes.length;
  }

  everyNode(table: `system.${string}`): string {
    return this.remote(this.reach.nodes.join(','), table);
  }

  eachNode(table: `system.${string}`): string[] {
    return this.reach.nodes.length ? this.reach.nodes.map((node) => this.remote(node, table)) : [table];
  }

  /** remote() connects to `hosts` with the login given, as that user: the same rights as on this node. */
  private remote(hosts: string, table: `system.${string}`): string {
    const { user, password } = this.reach;
    return `remote(${[quoteString(hosts), 'system', quoteIdent(table.slice('system.'.length)), quoteString(user), quoteString(password)].join(', ')})`;
  }

  private q(name: string): string {
    return `${quoteIdent(this.database)}.${quoteIdent(name)}`;
  }

  localTable(name: string): string {
    return name + LOCAL_SUFFIX;
  }

  isLocalTable(name: string): boolean {
    return name.endsWith(LOCAL_SUFFIX);
  }

  /**
   * Every replicated table gets a ZooKeeper path of its own: a renamed table keeps the path it was created with,
   * so a path made from the name would clash with the next table of that name (a rewrite's `t__emailstats_new`).
   * Records replicated everywhere use a fixed path, so a node added later joins the same table.
   */
  private zkPath(name: string, everywhere: boolean): string {
    const base = `/clickhouse/emailstats/${this.database}`;
    return everywhere ? `${base}/records/${name}` : `${base}/{shard}/${name}-${randomBytes(6).toString('hex')}`;
  }

  createTable(s: TableSpec): string[] {
    const ine = s.ifNotExists ? 'IF NOT EXISTS ' : '';
    if (s.everywhere) {
      // {shard}-{replica}: replica names need only be unique within a shard in a cluster's macros.
      const engine = replicatedEngine(s.engine, this.zkPath(s.name, true), '{shard}-{replica}');
      return [`CREATE TABLE ${ine}${this.q(s.name)} ${this.on}\n${s.columns}\nENGINE = ${engine}`];
    }
    const local = this.localTable(s.name);
    const engine = replicatedEngine(s.engine, this.zkPath(local, false), '{replica}');
    return [`CREATE TABLE ${ine}${this.q(local)} ${this.on}\n${s.columns}\nENGINE = ${engine}`, this.distributed(s.name, s.columns, s.shardingKey ?? 'rand()', ine)];
  }

  /** A Distributed table `name` over the shard tables of `over` (by default its own). */
  private distributed(name: string, columns: string, shardingKey: string, ine = '', over = name): string {
    const args = [quoteIdent(this.cluster), quoteIdent(this.database), quoteIdent(this.localTable(over)), shardingKey];
    // Indexes belong to the shard tables; a Distributed table takes columns only.
    const cols = columns.replace(/,\n\s*INDEX [^\n]*(?=,\n|\n\))/g, '');
    return `CREATE TABLE ${ine}${this.q(name)} ${this.on}\n${cols}\nENGINE = Distributed(${args.join(', ')})`;
  }

  dropTable(name: string): string[] {
    if (this.isLocalTable(name)) return [`DROP TABLE IF EXISTS ${this.q(name)} ${this.on}`];
    return [`DROP TABLE IF EXISTS ${this.q(name)} ${this.on}`, `DROP TABLE IF EXISTS ${this.q(this.localTable(name))} ${this.on}`];
  }

  /**
   * A Distributed table names its shard table, and a rename does not change that: renaming `t_new` to `t`
   * would leave `t` reading `t_new__local`. So `<replacement>_next`, a Distributed table with the replacement's
   * columns over `t__local`, is made first; one RENAME then moves both shard tables and both Distributed
   * tables, and afterwards `t` reads the new rows under the old name. Leftovers of a killed swap are dropped
   * first.
   */
  swap(table: string, replacement: string, shardingKey: string): string[] {
    const next = `${replacement}_next`;
    const old = `${replacement}_old`;
    const args = [quoteIdent(this.cluster), quoteIdent(this.database), quoteIdent(this.localTable(table)), shardingKey];
    const moves: [string, string][] = [
      [this.localTable(table), this.localTable(old)],
      [this.localTable(replacement), this.localTable(table)],
      [table, old],
      [next, table],
    ];
    return [
      ...this.dropTable(next),
      ...this.dropTable(old),
      `CREATE TABLE ${this.q(next)} ${this.on} AS ${this.q(replacement)} ENGINE = Distributed(${args.join(', ')})`,
      `RENAME TABLE ${moves.map(([a, b]) => `${this.q(a)} TO ${this.q(b)}`).join(', ')} ${this.on}`,
      ...this.dropTable(old),
      ...this.dropTable(replacement),
    ];
  }

  /**
   * ClickHouse 18.16 refuses an ALTER ON CLUSTER of a Distributed table when the cluster's shards replicate
   * ("Table t isn't replicated, but shard #2 is replicated according to its cluster definition"): it runs such
   * an ALTER on one replica per shard. So the Distributed table is replaced instead: a new one with the new
   * columns, swapped in by one RENAME (no moment without `t`), the old one dropped. It holds no rows.
   */
  alterColumns(spec: TableSpec, actions: string[]): string[] {
    if (!actions.length) return [];
    const next = `${spec.name}__emailstats_dist`;
    const old = `${next}_old`;
    return [
      ...actions.map((a) => `ALTER TABLE ${this.q(this.localTable(spec.name))} ${this.on} ${a}`),
      ...this.dropTable(next),
      ...this.dropTable(old),
      this.distributed(next, spec.columns, spec.shardingKey ?? 'rand()', '', spec.name),
      `RENAME TABLE ${this.q(spec.name)} TO ${this.q(old)}, ${this.q(next)} TO ${this.q(spec.name)} ${this.on}`,
      ...this.dropTable(old),
    ];
  }

  mutate(name: string, action: string): string[] {
    return [`ALTER TABLE ${this.q(this.localTable(name))} ${this.on} ${action}`];
  }

  truncate(name: string): string[] {
    return [`TRUNCATE TABLE ${this.q(this.localTable(name))} ${this.on}`];
  }

  createView(name: string, target: string, select: string): string[] {
    return [`CREATE MATERIALIZED VIEW ${this.q(name)} ${this.on} TO ${this.q(this.localTable(target))} AS\n${select}`];
  }
}

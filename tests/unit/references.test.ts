// Node, pipe and datasource references in SQL: found by tokenizing, never by pattern-matching the text.
import { describe, expect, it } from 'vitest';
import { expandReferences, findTableReferences } from '../../cli/src/project/references.js';

const names = (sql: string) => findTableReferences(sql).map((r) => r.name);

describe('table references', () => {
  it('finds tables after FROM and JOIN, in subqueries and comma lists', () => {
    expect(names('SELECT * FROM (SELECT a FROM inner_node) AS x WHERE a IN (SELECT b FROM other)')).toEqual(['inner_node', 'other']);
    expect(names('SELECT count() FROM numbers(10), some_table')).toEqual(['some_table']);
    expect(names('SELECT * FROM t1 ANY LEFT JOIN t2 USING (a)')).toEqual(['t1', 't2']);
    // A bracketed set-operation branch is a subquery, not a call of a function named DISTINCT or EXCEPT.
    expect(names('SELECT a FROM t1 UNION DISTINCT (SELECT a FROM t2) EXCEPT (SELECT a FROM t3) INTERSECT (SELECT a FROM t4)')).toEqual(['t1', 't2', 't3', 't4']);
  });

  it('ignores FROM inside function calls, CTE names, qualified tables and table functions', () => {
    expect(names('SELECT extract(YEAR FROM bucket) AS y FROM timeline_metrics')).toEqual(['timeline_metrics']);
    expect(names("SELECT substring(s FROM 2), trim(BOTH ' ' FROM x) FROM t1")).toEqual(['t1']);
    expect(names('WITH c AS (SELECT 1 FROM base) SELECT * FROM c')).toEqual(['base']);
    expect(names('SELECT * FROM system.tables, db.t')).toEqual([]);
    expect(names("SELECT * FROM file('x.csv')")).toEqual([]);
  });

  it('expands a reference into an aliased subquery, keeping an existing alias', () => {
    const expand = (n: string) => (n === 'node_a' ? 'SELECT 1 AS x' : undefined);
    expect(expandReferences('SELECT x FROM node_a', expand)).toBe('SELECT x FROM (\nSELECT 1 AS x\n) AS node_a');
    expect(expandReferences('SELECT n.x FROM node_a n JOIN ds USING (x)', expand)).toBe('SELECT n.x FROM (\nSELECT 1 AS x\n) n JOIN ds USING (x)');
    expect(expandReferences("SELECT extract(YEAR FROM node_a) FROM ds", expand)).toBe("SELECT extract(YEAR FROM node_a) FROM ds");
  });
});

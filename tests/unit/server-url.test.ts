// The database a --clickhouse-url names in its path is the one used, percent-decoded like its user and password
// (`http://host:8123/caf%C3%A9` is database `café`, not `caf%C3%A9`). Against a private 18.16.
import { describe, expect, it } from 'vitest';
import { ServerEngine } from '../../cli/src/engine/server.js';
import { useClickHouseServer } from '../helpers/clickhouse-server.js';

describe('the database in a ClickHouse URL', () => {
  const ch = useClickHouseServer();

  it('is percent-decoded', async () => {
    const engine = await ServerEngine.open({ url: `${ch.server.url}/caf%C3%A9` });
    try {
      expect(engine.database).toBe('café');
      expect(await engine.queryRows<{ d: string }>('SELECT currentDatabase() AS d')).toEqual([{ d: 'café' }]);
      expect(await ch.engine.queryRows<{ n: string }>("SELECT name AS n FROM system.databases WHERE name LIKE 'caf%'")).toEqual([{ n: 'café' }]);
    } finally {
      await engine.close();
    }
  });
});

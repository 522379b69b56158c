// `tb_secret('NAME')` in an endpoint answers requests with the value from the environment of `dev`
// (TB_SECRET_<NAME>), bound as a query parameter: the secret never becomes SQL text, so its quotes cannot
// change the query. A reader of the pipe cannot get a secret the pipe only filters on (request SQL may not name
// query parameters), and emailstats' own settings (EMAILSTATS_*) are not secrets a pipe can read.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { eventsProject } from '../helpers/events-project.js';

const SECRET = "s3cr'et --value";
let project: string;
let dev: DevServer;
let reader: string;

beforeAll(async () => {
  project = eventsProject({
    'pipes/with_secret.pipe': `NODE main\nSQL >\n    %\n    SELECT {{ tb_secret('API_KEY') }} AS k, count() AS c FROM events\n\nTYPE endpoint\n`,
    'pipes/filters_on_secret.pipe': `TOKEN "reader" READ\n\nNODE main\nSQL >\n    %\n    SELECT count() AS c FROM events WHERE kind != {{ tb_secret('PARTNER_KEY') }}\n\nTYPE endpoint\n`,
    'pipes/reads_admin_token.pipe': `NODE main\nSQL >\n    %\n    SELECT {{ tb_secret('EMAILSTATS_ADMIN_TOKEN', 'not given') }} AS t\n\nTYPE endpoint\n`,
  });
  dev = await startDev(project, ['--no-watch'], { TB_SECRET_API_KEY: SECRET, TB_SECRET_PARTNER_KEY: 'hunter2' });
  reader = ((await (await fetch(`${dev.url}/tokens`)).json()) as { tokens: Record<string, string> }).tokens.reader;
}, 90_000);
afterAll(async () => {
  await dev?.stop();
  if (project) removeDir(project);
});

const get = async (pathAndQuery: string, token: string) => {
  const res = await fetch(`${dev.url}${pathAndQuery}${pathAndQuery.includes('?') ? '&' : '?'}token=${token}`);
  return { status: res.status, body: (await res.json()) as { data?: Record<string, unknown>[]; error?: string } };
};

it('answers an endpoint that uses a tb_secret without a default, with the value from the environment', async () => {
  const r = await get('/v0/pipes/with_secret.json', dev.token);
  expect(r.status, r.body.error).toBe(200);
  expect(r.body.data).toEqual([{ k: SECRET, c: 0 }]);
});

it('does not let a reader of the pipe name its secret as a query parameter, in /v0/sql or in q', async () => {
  expect((await get('/v0/pipes/filters_on_secret.json', reader)).status).toBe(200);
  const viaSql = await get(`/v0/sql?q=${encodeURIComponent('SELECT {PARTNER_KEY:String} AS leaked FROM filters_on_secret')}`, reader);
  expect(viaSql.status).toBe(400);
  expect(viaSql.body.error).toMatch(/query parameters .* are not allowed in request SQL/);
  const viaQ = await get(`/v0/pipes/filters_on_secret.json?q=${encodeURIComponent('SELECT {`PARTNER_KEY`:String} AS leaked FROM _')}`, reader);
  expect(viaQ.status).toBe(400);
  expect(JSON.stringify(viaQ.body)).not.toContain('hunter2');
});

it("keeps emailstats' own settings out of tb_secret: the admin token is not a secret a pipe can read", async () => {
  const r = await get('/v0/pipes/reads_admin_token.json', dev.token);
  expect(r.status, r.body.error).toBe(200);
  expect(r.body.data).toEqual([{ t: 'not given' }]);
});

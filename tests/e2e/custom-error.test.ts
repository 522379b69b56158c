// custom_error() through an endpoint: a string message answers {"error": message} with its status; a dict
// answers with the dict's own keys as the JSON body (as Tinybird writes it), `error` included when it has one.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { removeDir, startDev, type DevServer } from '../helpers/cli.js';
import { eventsProject } from '../helpers/events-project.js';

let project: string;
let dev: DevServer;

beforeAll(async () => {
  project = eventsProject({
    'pipes/guarded.pipe': `NODE main
SQL >
    %
    {% if not defined(org) %}
        {{ custom_error({'error': 'org is required', 'code': 'MISSING_ORG', 'hint': 'pass ?org=<id>'}, 422) }}
    {% elif org == 'gone' %}
        {{ custom_error({'code': 'ORG_DELETED'}, 410) }}
    {% elif org == 'text' %}
        {{ custom_error('plain message', 404) }}
    {% end %}
    SELECT {{ String(org) }} AS org

TYPE endpoint
`,
  });
  dev = await startDev(project, ['--no-watch']);
}, 90_000);
afterAll(async () => {
  await dev?.stop();
  if (project) removeDir(project);
});

const get = async (query: string) => {
  const res = await fetch(`${dev.url}/v0/pipes/guarded.json${query}`, { headers: { authorization: `Bearer ${dev.token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

it("answers a dict custom_error with the dict's keys as the body, with its status", async () => {
  expect(await get('')).toEqual({ status: 422, body: { error: 'org is required', code: 'MISSING_ORG', hint: 'pass ?org=<id>' } });
});

it('keeps an error key for a dict without one (its JSON text), since clients read error on any failure', async () => {
  const r = await get('?org=gone');
  expect(r.status).toBe(410);
  expect(r.body.code).toBe('ORG_DELETED');
  expect(JSON.parse(r.body.error as string)).toEqual({ code: 'ORG_DELETED' });
});

it('answers a string custom_error as {"error": message}', async () => {
  expect(await get('?org=text')).toEqual({ status: 404, body: { error: 'plain message' } });
  expect(await get('?org=acme')).toMatchObject({ status: 200, body: { data: [{ org: 'acme' }] } });
});

// `--cors-origin` parsing (repeated flags, comma lists, the environment variable, bad values) and
// Accept-Encoding negotiation: the pure parts of CORS and compression (the e2e tests cover the server).
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { corsPolicy, publicUrl, servingOptions, withCorsOrigin, withServingOptions } from '../../cli/src/commands/serving-options.js';
import { CORS_ANY, parseCorsOrigins } from '../../cli/src/server/cors.js';
import { negotiateEncoding } from '../../cli/src/server/compression.js';

function parse(argv: string[]) {
  const cmd = withCorsOrigin(new Command('dev'), 'any origin').exitOverride();
  cmd.parse(argv, { from: 'user' });
  return corsPolicy(cmd.opts(), CORS_ANY);
}

const origins = (p: ReturnType<typeof parseCorsOrigins>) => (p.kind === 'list' ? [...p.origins].sort() : p.kind);

describe('--cors-origin', () => {
  afterEach(() => {
    delete process.env.EMAILSTATS_CORS_ORIGIN;
  });

  it('accumulates repeated flags and comma lists, normalized as browsers send Origin', () => {
    expect(origins(parse(['--cors-origin', 'https://App.Example.com/', '--cors-origin', 'http://localhost:3000, http://127.0.0.1:80']))).toEqual([
      'http://127.0.0.1',
      'http://localhost:3000',
      'https://app.example.com',
    ]);
  });

  it('falls back to the command default, reads EMAILSTATS_CORS_ORIGIN, and lets the flag win', () => {
    expect(parse([])).toBe(CORS_ANY);
    process.env.EMAILSTATS_CORS_ORIGIN = 'https://a.example.com,https://b.example.com';
    expect(origins(parse([]))).toEqual(['https://a.example.com', 'https://b.example.com']);
    expect(origins(parse(['--cors-origin', 'https://c.example.com']))).toEqual(['https://c.example.com']);
  });

  it("takes '*' for any origin and 'none' for no CORS", () => {
    expect(parse(['--cors-origin', 'https://a.example.com,*']).kind).toBe('any');
    expect(parse(['--cors-origin', 'none']).kind).toBe('none');
  });

  it('refuses values that are not origins, saying how to write one', () => {
    expect(() => parse(['--cors-origin', 'app.example.com'])).toThrow(/not an origin: write scheme, host and port/);
    expect(() => parse(['--cors-origin', 'https://app.example.com/dashboard'])).toThrow(/drop the path, e.g. 'https:\/\/app.example.com'/);
    expect(() => parse(['--cors-origin', 'ftp://files.example.com'])).toThrow(/http:\/\/ or https:\/\//);
    expect(() => parse(['--cors-origin', 'none,https://a.example.com'])).toThrow(/cannot be combined/);
    expect(() => parse(['--cors-origin', ' , '])).toThrow(/empty/);
  });
});

describe('Accept-Encoding negotiation', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['gzip', 'gzip'],
    ['x-gzip', 'gzip'],
    ['gzip, deflate, br', 'br'],
    ['GZIP;Q=0.8, deflate;q=0.9', 'deflate'],
    ['*;q=0.5, br;q=0', 'gzip'],
    ['identity', undefined],
    ['gzip;q=0', undefined],
  ])('%s → %s', (header, coding) => {
    expect(negotiateEncoding(header)).toBe(coding);
  });
});

describe('--public-url', () => {
  afterEach(() => {
    delete process.env.EMAILSTATS_PUBLIC_URL;
  });
  const serving = (argv: string[]) => {
    const cmd = withServingOptions(new Command('serve').option('--port <n>', 'port', '7181'), 'none').exitOverride();
    cmd.parse(argv, { from: 'user' });
    return servingOptions(cmd.opts(), CORS_ANY);
  };

  it('comes from the flag or EMAILSTATS_PUBLIC_URL; a blank variable is no value', () => {
    expect(serving([]).publicUrl).toBeUndefined();
    process.env.EMAILSTATS_PUBLIC_URL = '';
    expect(serving([]).publicUrl).toBeUndefined();
    process.env.EMAILSTATS_PUBLIC_URL = 'https://env.example.com/';
    expect(serving([]).publicUrl).toBe('https://env.example.com');
    expect(serving(['--public-url', 'https://flag.example.com']).publicUrl).toBe('https://flag.example.com');
  });

  it('keeps scheme, host, port and a path prefix, without a trailing slash', () => {
    expect(publicUrl('https://api.example.com')).toBe('https://api.example.com');
    expect(publicUrl('https://API.example.com:8443/analytics/')).toBe('https://api.example.com:8443/analytics');
    expect(publicUrl('http://10.0.0.5:7181')).toBe('http://10.0.0.5:7181');
  });

  it('refuses what is not a server address, naming the flag', () => {
    for (const [bad, message] of [
      ['api.example.com', /takes a URL such as https:\/\/api\.example\.com/],
      ['ftp://api.example.com', /must start with http:\/\/ or https:\/\//],
      ['https://api.example.com/?token=x', /no query, fragment or credentials/],
      ['https://user:pw@api.example.com', /no query, fragment or credentials/],
    ] as const)
      expect(() => publicUrl(bad), bad).toThrow(message);
  });
});

// Debian's chromium driven by playwright-core, for tests that need a real browser (CORS, pages). No browser is
// downloaded; every launch gets a fresh profile under os.tmpdir(), removed on close, and chromium's own
// network traffic (updates, sync, QUIC probes) is off so a test only ever talks to loopback.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.EMAILSTATS_CHROMIUM ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does), or set EMAILSTATS_CHROMIUM`);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'emailstats-chromium-'));
  try {
    // launchPersistentContext is playwright's way to pass --user-data-dir (it refuses that flag in args).
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
    return {
      context,
      close: async () => {
        await context.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}

#!/usr/bin/env node
// Entry point: the CLI is written in TypeScript and run through tsx's loader, so installing the package is the
// whole install, in this repo (`npm ci`) as in a project that has it as a dependency (tsx compiles files inside
// node_modules too; tests/e2e/packed-install.test.ts runs it from there).
import { register } from 'tsx/esm/api';

register();
await import('../cli/src/main.ts');

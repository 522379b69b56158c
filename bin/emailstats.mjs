#!/usr/bin/env node
// Entry point: the CLI is written in TypeScript and run through tsx's loader, so `npm ci` is the whole install.
import { register } from 'tsx/esm/api';

register();
await import('../cli/src/main.ts');

// Every CLI command lives in its own module and exports `register(program)`; add new ones to this list.
import type { Command } from 'commander';
import { register as registerBuild } from './build.js';
import { register as registerDev } from './dev.js';
import { register as registerRender } from './render.js';
import { register as registerSql } from './sql.js';
import { register as registerEndpoint } from './endpoint.js';
import { register as registerAppend } from './append.js';
import { register as registerCopy } from './copy.js';
import { register as registerMock } from './mock.js';
import { register as registerCheck } from './check.js';
import { register as registerQuarantine } from './quarantine.js';
import { register as registerTest } from './test.js';
import { register as registerToken } from './token.js';
import { register as registerDeploy } from './deploy.js';
import { register as registerDeployment } from './deployment.js';
import { register as registerServe } from './serve.js';
import { register as registerInit } from './init.js';

type Registrar = (program: Command) => void;

const registrars: Registrar[] = [
  registerInit,
  registerBuild,
  registerDev,
  registerRender,
  registerSql,
  registerEndpoint,
  registerAppend,
  registerCopy,
  registerMock,
  registerCheck,
  registerQuarantine,
  registerTest,
  registerToken,
  registerDeploy,
  registerDeployment,
  registerServe,
];

export function registerCommands(program: Command): void {
  for (const register of registrars) register(program);
}

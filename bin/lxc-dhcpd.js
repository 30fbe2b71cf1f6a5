#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx so the installed command never goes stale against src/.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');

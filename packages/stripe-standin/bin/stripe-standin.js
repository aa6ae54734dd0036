#!/usr/bin/env node
// The stand-in is run from its TypeScript sources, as the tests and the bench import them:
// tsx compiles them on load, so the package has no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');

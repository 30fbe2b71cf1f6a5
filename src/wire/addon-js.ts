/** What the two socket wrappers (packet-socket.ts, udp-socket.ts) share on the JavaScript side of their addons. */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const loaded = new Map<string, unknown>();

/**
 * build/Release/NAME.node, loaded on first use so that importing a wrapper (e.g. for types) works before the addon is
 * built.
 */
export function loadAddon<T>(name: string): T {
  let addon = loaded.get(name);
  if (addon === undefined) {
    addon = require(`../../build/Release/${name}.node`) as unknown;
    loaded.set(name, addon);
  }
  return addon as T;
}

export function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}

/**
 * An error reporter for a socket's receive errors and callback exceptions: `onError` when given, else console.error.
 * It never throws, since it runs inside the addon's callback (an exception there would be uncaught).
 */
export function errorReporter(label: string, onError: ((err: Error) => void) | undefined): (err: Error) => void {
  return (err) => {
    if (!onError) {
      console.error(`${label}:`, err);
      return;
    }
    try {
      onError(err);
    } catch (thrown) {
      console.error(`${label}: onError threw while reporting`, err, asError(thrown));
    }
  };
}
